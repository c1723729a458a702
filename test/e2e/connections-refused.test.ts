import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Code } from '../../src/radius/types';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText } from '../support/metrics';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/log-lines';

/*
 * PostgreSQL answers, but refuses this node's new connections: too many connections (SQLSTATE 53300: max_connections
 * taken by other clients, or a CONNECTION LIMIT on radotp's role or database). The node's connections were cut
 * (a restart, an idle timeout) and cannot be opened again. Here radotp's own role is given CONNECTION LIMIT 0.
 * The health check's warning said 'database unreachable', which sends the one on call to the network, when
 * PostgreSQL answered and said why.
 */
const PASSWORD = 'connections-refused-password';

describe("the database refuses this node's connections (SQLSTATE 53300)", () => {
  let db: TestDatabase;
  let t: TestServer;
  let dir: string;
  let logFile: string;
  let admin: pg.Client;
  const role = `radotp_limited_${randomBytes(3).toString('hex')}`;
  beforeAll(async () => {
    db = await createTestDatabase();
    admin = new pg.Client({ connectionString: process.env.RADOTP_TEST_ADMIN_URL! });
    await admin.connect();
    const dbName = new URL(db.url).pathname.slice(1);
    // not a superuser: PostgreSQL exempts superusers from connection limits
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`ALTER DATABASE ${dbName} OWNER TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-connections-refused-'));
    logFile = path.join(dir, 'serve.log');
    t = await startTestServer({ dir, logFile, database: { url: url.toString() }, users: [{ username: 'alice', password: PASSWORD }] });
  });
  afterAll(async () => {
    await admin?.query(`ALTER ROLE ${role} CONNECTION LIMIT -1`).catch(() => {});
    await t?.close();
    await db?.drop();
    await admin?.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin?.end();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const healthz = async () => (await fetch(`http://127.0.0.1:${t.httpPort}/healthz`, { signal: AbortSignal.timeout(8000) })).status;
  const login = () => authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 3000 });

  test("/healthz 503 and a warning naming the refusal and SQLSTATE 53300 (not 'unreachable'); the node recovers alone once connections are let in", async () => {
    expect((await login())?.code).toBe(Code.AccessAccept);
    const linesBefore = logLines(logFile).length;
    await admin.query(`ALTER ROLE ${role} CONNECTION LIMIT 0`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);

    expect(await waitFor('/healthz 503', async () => ((await healthz()) === 503 ? 503 : undefined), 10_000)).toBe(503);
    expect(await metricsText(t)).toMatch(/^radotp_database_up 0$/m);
    expect(await login()).toBeNull(); // no answer, never a reject
    const down = logLines<{ why?: string; sqlstate?: string; err?: string }>(logFile)
      .slice(linesBefore)
      .filter((l) => l.msg.includes('/healthz is 503'));
    expect(down).toEqual([
      expect.objectContaining({
        level: 40,
        why: 'refused',
        sqlstate: '53300',
        err: expect.stringContaining('too many connections'),
        msg: expect.stringMatching(/refuses.*max_connections/),
      }),
    ]);
    expect(logLines(logFile).slice(linesBefore).filter((l) => l.level >= 50)).toEqual([]);

    await admin.query(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
    expect(await waitFor('/healthz 200', async () => ((await healthz()) === 200 ? 200 : undefined), 15_000)).toBe(200);
    expect((await login())?.code).toBe(Code.AccessAccept);
  }, 60_000);
});
