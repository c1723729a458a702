import { spawnSync } from 'node:child_process';
import fs, { chownSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { initCluster, startCluster, stopPostmaster } from '../../src/store/embedded/cluster';
import { systemPgBinaries } from '../../src/store/embedded/pg-binaries';
import { postgresRunAs, spawnIdentity } from '../../src/store/embedded/postgres-user';
import type { PostmasterInfo } from '../../src/store/embedded/postmaster-pid';
import { Code } from '../../src/radius/types';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText } from '../support/metrics';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/log-lines';

/*
 * A Patroni switchover, with a real streaming standby (pg_basebackup of a primary of its own) and a virtual IP in
 * front (a TCP forwarder whose target moves, as HAProxy's does: sessions opened before a move stay with the host
 * they were opened to). The VIP first leads to the standby while radotp's sessions are cut (the old primary going
 * down), then back to the writable primary without cutting the sessions opened to the standby meanwhile.
 * See read-only-failover.test.ts for the same on one server with default_transaction_read_only.
 */
const bin = systemPgBinaries();
const runAs = postgresRunAs();
const PASSWORD = 'standby-failover-password';

/** A forwarder whose target can move; `cut` ends every session it carries. */
class Vip {
  private readonly sessions = new Set<net.Socket>();
  private constructor(private readonly server: net.Server, public target: number) {}
  static async start(target: number): Promise<Vip> {
    const server = net.createServer();
    const vip = new Vip(server, target);
    server.on('connection', (client) => {
      const upstream = net.connect(vip.target, '127.0.0.1');
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        vip.sessions.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => (vip.sessions.delete(a), b.destroy()));
        a.pipe(b);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return vip;
  }
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }
  cut(): void {
    for (const s of this.sessions) s.destroy();
  }
  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

function asPostgres(program: string, args: string[]): void {
  const r = spawnSync(path.join(path.dirname(bin!.postgres), program), args, { ...spawnIdentity(runAs), cwd: '/', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${program} failed: ${r.stderr || r.stdout}`);
}

describe('a real standby behind the VIP during a switchover', () => {
  let dir: string;
  let primary: PostmasterInfo;
  let standbyData: string;
  let standbyPort: number;
  let vip: Vip;
  let t: TestServer;
  let logFile: string;
  beforeAll(async () => {
    // never skipped: .ci/run installs apt's PostgreSQL, whose pg_basebackup and pg_ctl this test needs
    if (!bin) throw new Error("apt's PostgreSQL binaries (pg_basebackup, pg_ctl) are needed: apt-get install postgresql");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-standby-'));
    fs.chmodSync(dir, 0o755);
    const primaryData = path.join(dir, 'primary');
    mkdirSync(primaryData, { mode: 0o700 });
    if (runAs.uid !== undefined && runAs.gid !== undefined) chownSync(primaryData, runAs.uid, runAs.gid);
    await initCluster({ bin: bin!, runAs, pgdata: primaryData, auth: { method: 'trust' }, noSync: true, settings: { listen_addresses: '127.0.0.1', unix_socket_directories: '', fsync: 'off' } });
    primary = await startCluster({ bin: bin!, runAs, pgdata: primaryData, logFile: path.join(dir, 'primary.log') });
    vip = await Vip.start(primary.port);
    logFile = path.join(dir, 'serve.log');
    t = await startTestServer({ dir, logFile, database: { url: `postgres://postgres@127.0.0.1:${vip.port}/postgres` }, users: [{ username: 'alice', password: PASSWORD }] });
    standbyData = path.join(dir, 'standby');
    mkdirSync(standbyData, { mode: 0o700 });
    if (runAs.uid !== undefined && runAs.gid !== undefined) chownSync(standbyData, runAs.uid, runAs.gid);
    asPostgres('pg_basebackup', ['-D', standbyData, '-R', '-X', 'stream', '-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres']);
    standbyPort = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    asPostgres('pg_ctl', ['-D', standbyData, '-o', `-p ${standbyPort}`, '-l', path.join(standbyData, 'standby.log'), '-w', 'start']);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await vip?.close();
    if (standbyData && fs.existsSync(path.join(standbyData, 'postmaster.pid'))) asPostgres('pg_ctl', ['-D', standbyData, '-m', 'immediate', 'stop']);
    if (primary) await stopPostmaster(primary.pid, 10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const healthz = async () => (await fetch(`http://127.0.0.1:${t.httpPort}/healthz`, { signal: AbortSignal.timeout(8000) })).status;
  const login = () => authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 3000 });

  test('on the standby: logins unanswered, /healthz 503 read-only, no error line; back on the primary: recovers by itself', async () => {
    expect((await login())?.code).toBe(Code.AccessAccept);
    const linesBefore = logLines(logFile).length;

    vip.target = standbyPort;
    vip.cut();
    expect(await waitFor('/healthz 503', async () => ((await healthz()) === 503 ? 503 : undefined), 15_000)).toBe(503);
    expect(await metricsText(t)).toMatch(/^radotp_database_up 0$/m);
    expect(await login()).toBeNull();
    const during = logLines<{ why?: string; sqlstate?: string }>(logFile).slice(linesBefore);
    expect(during).toContainEqual(expect.objectContaining({ level: 40, why: 'read-only' }));
    expect(during.filter((l) => l.level >= 50)).toEqual([]);
    // reads work on a standby: a burst of them (user lookups, the client table's reload) opens connections to it
    // that no write ever refuses, and they stay in the pool
    await Promise.all(Array.from({ length: 8 }, () => t.server.store.clients.listWithSecrets()));

    vip.target = primary.port; // sessions opened to the standby stay there
    expect(await waitFor('/healthz 200', async () => ((await healthz()) === 200 ? 200 : undefined), 15_000)).toBe(200);
    for (let i = 0; i < 10; i++) expect((await login())?.code).toBe(Code.AccessAccept);
    expect(await waitFor('the audit backlog written', async () => ((await metricsText(t)).match(/^radotp_audit_backlog 0$/m) ? true : undefined), 10_000)).toBe(true);
  }, 90_000);
});
