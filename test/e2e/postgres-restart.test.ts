import fs, { chownSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initCluster, startCluster, stopPostmaster } from '../../src/store/embedded/cluster';
import { embeddedPgBinaries, systemPgBinaries } from '../../src/store/embedded/pg-binaries';
import { postgresRunAs } from '../../src/store/embedded/postgres-user';
import type { PostmasterInfo } from '../../src/store/embedded/postmaster-pid';
import { Code } from '../../src/radius/types';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText } from '../support/metrics';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/log-lines';

/*
 * PostgreSQL restarted under load (pg_ctl restart -m fast: a fast shutdown ends every session with SQLSTATE 57P01,
 * then the postmaster comes back on the same port). Its own cluster: the shared test cluster must not go away
 * under other test files.
 */
const PASSWORD = 'postgres-restart-password';
const bin = systemPgBinaries() ?? embeddedPgBinaries();
const runAs = postgresRunAs();

describe('PostgreSQL restarted (fast) while logins come', () => {
  let dir: string;
  let pgdata: string;
  let running: PostmasterInfo;
  let t: TestServer;
  let logFile: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-pg-restart-'));
    fs.chmodSync(dir, 0o755);
    pgdata = path.join(dir, 'data');
    mkdirSync(pgdata, { mode: 0o700 });
    if (runAs.uid !== undefined && runAs.gid !== undefined) chownSync(pgdata, runAs.uid, runAs.gid);
    await initCluster({ bin, runAs, pgdata, auth: { method: 'trust' }, noSync: true, settings: { listen_addresses: '127.0.0.1', unix_socket_directories: '', fsync: 'off' } });
    running = await startCluster({ bin, runAs, pgdata, logFile: path.join(dir, 'postgres.log') });
    logFile = path.join(dir, 'serve.log');
    t = await startTestServer({
      dir,
      logFile,
      database: { url: `postgres://postgres@127.0.0.1:${running.port}/postgres` },
      users: [{ username: 'alice', password: PASSWORD }],
    });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    if (running) await stopPostmaster(running.pid, 10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const healthz = async () => (await fetch(`http://127.0.0.1:${t.httpPort}/healthz`, { signal: AbortSignal.timeout(8000) })).status;
  const login = () => authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 3000 });

  test('logins during it go unanswered, never rejected; the node recovers alone: /healthz 200, logins accepted, the audit backlog written', async () => {
    expect((await login())?.code).toBe(Code.AccessAccept);
    const linesBefore = logLines(logFile).length;
    let loading = true;
    const answers: (number | null)[] = [];
    const load = (async () => {
      while (loading) answers.push((await login())?.code ?? null);
    })();
    await new Promise((r) => setTimeout(r, 500));
    await stopPostmaster(running.pid, 10_000);
    await new Promise((r) => setTimeout(r, 3000));
    running = await startCluster({ bin, runAs, pgdata, logFile: path.join(dir, 'postgres.log'), preferredPort: running.port });
    expect(await waitFor('/healthz 200', async () => ((await healthz()) === 200 ? 200 : undefined), 15_000)).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    loading = false;
    await load;
    expect(answers.filter((c) => c === Code.AccessReject)).toEqual([]);
    for (let i = 0; i < 5; i++) expect((await login())?.code).toBe(Code.AccessAccept);
    await waitFor('the audit backlog written', async () => ((await metricsText(t)).match(/^radotp_audit_backlog 0$/m) ? true : undefined), 10_000);
    const lines = logLines<{ why?: string }>(logFile).slice(linesBefore);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]); // a restart is no bug of radotp's: no error, no stack
    expect(lines.filter((l) => l.why === 'unreachable')).toHaveLength(1); // the health check says it once
    const msgs = lines.map((l) => l.msg);
    // each warning of the outage has its all-clear, so the log does not leave the one on call a warning standing
    for (const [lost, back] of [
      ['database connection lost', 'database connections open again'],
      ['change notifications lost; caches bypassed until they return', 'user cache warmed'],
      ['could not read the code lengths in use; keeping the previous list', 'code lengths in use read again'],
    ]) {
      if (msgs.includes(lost!)) expect(msgs.lastIndexOf(back!)).toBeGreaterThan(msgs.lastIndexOf(lost!));
    }
  }, 90_000);
});
