import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Code } from '../../src/radius/types';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText } from '../support/metrics';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/log-lines';

/*
 * A Patroni switchover seen from one radotp node: the old primary restarts as a standby (every connection cut),
 * and for a while the virtual IP still leads to it: new connections are read-only (SQLSTATE 25006 on every
 * write) while reads work. Then the VIP moves to the new primary, but connections opened before stay with the
 * old host, still read-only (a proxy such as HAProxy keeps established sessions). Simulated on one real
 * PostgreSQL with ALTER DATABASE … SET default_transaction_read_only, which, like the VIP, changes only what new
 * sessions get: a session opened while it was on stays read-only after it is reset.
 *
 * The pool kept those connections: the health check took one every 2 s, and logins theirs, so none was ever
 * idle for idleTimeoutMillis; the node stayed down (/healthz 503, every login unanswered) after the VIP moved,
 * until it was restarted.
 */
const PASSWORD = 'read-only-failover-password';

describe('the database address leads to a read-only standby for a while, then to the new primary', () => {
  let t: TestServer;
  let dir: string;
  let logFile: string;
  let admin: pg.Client;
  let dbName: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-read-only-failover-'));
    logFile = path.join(dir, 'serve.log');
    t = await startTestServer({ dir, logFile, users: [{ username: 'alice', password: PASSWORD }], config: { database: { poolSize: 2 } } });
    dbName = new URL(t.cfg.database.url!).pathname.slice(1);
    admin = new pg.Client({ connectionString: process.env.RADOTP_TEST_ADMIN_URL! });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.query(`ALTER DATABASE ${dbName} RESET default_transaction_read_only`).catch(() => {});
    await admin?.end();
    await t?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const healthz = async () => (await fetch(`http://127.0.0.1:${t.httpPort}/healthz`, { signal: AbortSignal.timeout(8000) })).status;
  const login = () => authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 3000 });

  test('logins go unanswered with one warning naming SQLSTATE 25006, /healthz 503; once the VIP moves the node recovers by itself', async () => {
    expect((await login())?.code).toBe(Code.AccessAccept);
    const linesBefore = logLines(logFile).length;

    // the old primary restarts as a standby: every connection of the server's is cut, new ones are read-only
    await admin.query(`ALTER DATABASE ${dbName} SET default_transaction_read_only = on`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'radotp-serve%'`, [dbName]);

    expect(await waitFor('/healthz 503', async () => ((await healthz()) === 503 ? 503 : undefined), 10_000)).toBe(503);
    expect(await metricsText(t)).toMatch(/^radotp_database_up 0$/m);
    expect(await login()).toBeNull(); // fail: no answer, so the NAS tries again or elsewhere; never a reject
    await waitFor('an audit event waiting', async () => ((await metricsText(t)).match(/^radotp_audit_backlog [1-9]/m) ? true : undefined), 5_000);
    const during = logLines<{ why?: string; sqlstate?: string; err?: string }>(logFile).slice(linesBefore);
    expect(during).toContainEqual(expect.objectContaining({ level: 40, why: 'read-only', msg: expect.stringContaining('read-only') }));
    expect(during).toContainEqual(expect.objectContaining({ level: 40, sqlstate: '25006', err: expect.stringContaining('read-only transaction') }));
    expect(during.filter((l) => l.level >= 50)).toEqual([]); // no 'internal error' with a stack trace

    // the VIP moves to the new primary: new connections take writes; those opened before still lead to the standby
    await admin.query(`ALTER DATABASE ${dbName} RESET default_transaction_read_only`);

    expect(await waitFor('/healthz 200', async () => ((await healthz()) === 200 ? 200 : undefined), 10_000)).toBe(200);
    expect(await metricsText(t)).toMatch(/^radotp_database_up 1$/m);
    // every connection of the pool serves: none is left leading to the standby
    for (let i = 0; i < 6; i++) expect((await login())?.code).toBe(Code.AccessAccept);
    // the audit events of the logins left unanswered meanwhile are written too (the audit pool lets go of its read-only connections)
    expect(await waitFor('the audit backlog written', async () => ((await metricsText(t)).match(/^radotp_audit_backlog 0$/m) ? true : undefined), 10_000)).toBe(true);
  }, 60_000);
});
