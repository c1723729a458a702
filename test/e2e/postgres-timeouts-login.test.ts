import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/log-lines';

/*
 * The DBA of a PostgreSQL that several radotp nodes share sets a timeout of PostgreSQL's own on radotp's role
 * (`ALTER ROLE radotp SET statement_timeout = '200ms'`, or lock_timeout), here for this one database only (IN
 * DATABASE: other test files share the role). A login whose statement waits on a lock another session holds is
 * then canceled by PostgreSQL (SQLSTATE 57014 or 55P03) long before database.queryTimeout. It was logged as
 * 'internal error while deciding' with a stack (reason internal_error): the on-call looked for a bug of radotp's.
 * It must stay `fail` (no answer: the NAS fails over, never a Reject), audited as database_timeout, and the
 * warning must name PostgreSQL's setting, not database.queryTimeout (here 10 s, far from what happens).
 */
const PASSWORD = 'postgres-timeouts-password';

// [PostgreSQL's setting, its value, the SQLSTATE it ends a statement with]
const settings: [string, string, string][] = [
  ['statement_timeout', '500ms', '57014'],
  ['lock_timeout', '300ms', '55P03'],
];

describe.each(settings)("a login statement canceled by PostgreSQL's own %s (%s, on the role)", (setting, value, sqlstate) => {
  let db: TestDatabase;
  let t: TestServer;
  let dir: string;
  let logFile: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query(`ALTER ROLE CURRENT_USER IN DATABASE ${new URL(db.url).pathname.slice(1)} SET ${setting} = '${value}'`);
    } finally {
      await admin.end();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-postgres-timeouts-'));
    logFile = path.join(dir, 'serve.log');
    t = await startTestServer({ dir, database: db, users: [{ username: 'alice', password: PASSWORD }], logFile, config: { database: { queryTimeout: 10 } } });
  }, 30_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const lines = () => logLines<{ setting?: string; sqlstate?: string; err?: string }>(logFile);
  const login = () => authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 3000 });

  test('the NAS gets no answer, the audit trail says database_timeout, and one warning names the setting', async () => {
    const reader = new pg.Client({ connectionString: t.cfg.database.url });
    await reader.connect();
    try {
      await canceledLogins(reader);
    } finally {
      await reader.end();
    }
    expect((await login())?.code).toBeDefined(); // the lock let go: decided again
  }, 30_000);

  async function canceledLogins(reader: pg.Client): Promise<void> {
    expect((await reader.query(`SHOW ${setting}`)).rows[0][setting]).toBe(value); // the role's setting reaches radotp's sessions
    const locker = new pg.Client({ connectionString: t.cfg.database.url });
    await locker.connect();
    try {
      await locker.query('BEGIN; LOCK TABLE password_lockout IN ACCESS EXCLUSIVE MODE');
      expect(await login()).toBeNull();
      expect(await login()).toBeNull();
    } finally {
      await locker.end();
    }
    const warned = lines().filter((l) => l.level >= 40 && l.setting === setting);
    expect(warned).toEqual([expect.objectContaining({ level: 40, sqlstate })]);
    expect(warned[0]?.msg).toContain(`SQLSTATE ${sqlstate}`);
    expect(warned[0]?.msg).toContain(setting);
    expect(lines().filter((l) => l.level >= 50)).toEqual([]); // no 'internal error while deciding'
    expect(fs.readFileSync(logFile, 'utf8')).not.toContain(PASSWORD);
    const rows = await waitFor('the audit rows', async () => {
      const r = await reader.query("SELECT result, reason FROM audit_event WHERE result IN ('fail', 'reject')");
      return r.rows.length >= 2 ? r.rows : undefined;
    });
    expect(rows).toEqual([
      { result: 'fail', reason: 'database_timeout' },
      { result: 'fail', reason: 'database_timeout' },
    ]);
  }
});
