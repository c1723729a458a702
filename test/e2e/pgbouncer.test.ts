import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, SPEND_LOCK_WAIT_MS } from '../../src/store/connect';
import { runCli } from '../support/cli';
import { AppFromUri } from '../support/otp-codes';
import { startPgBouncer, type PgBouncer } from '../support/pgbouncer';
import { ServeProcess } from '../support/serve-process';
import { startTestServer, testConfig, type TestServer } from '../support/server';
import { metricOf } from '../support/metrics';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { login, radclientDriver } from '../support/two-step-login';

/*
 * radotp behind a real PgBouncer (Debian's 1.18), as many operators run it: `database.url` points at PgBouncer,
 * which pools the connections of every node in front of one PostgreSQL. Session mode (PgBouncer's default) is
 * supported: everything below goes through it, serve's start (migrations under their lock), the CLI, the change
 * listener (LISTEN), the challenge held in an open transaction, the named prepared statements of the login path,
 * the audit trail. Transaction mode cannot work (a LISTEN is lost with its transaction's server connection, and
 * named prepared statements need PgBouncer 1.21's max_prepared_statements): serve refuses it at start.
 */

describe('PgBouncer pool_mode = session', () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  let t: TestServer;
  let app: AppFromUri;
  let counter = 0;
  const nextCode = () => app.hotp(++counter);

  beforeAll(async () => {
    db = await createTestDatabase();
    bouncer = await startPgBouncer(db.url, 'session');
    t = await startTestServer({
      database: { url: bouncer.via(db.url) },
      clients: [{ name: 'nas', address: '127.0.0.1' }],
      users: [
        { username: 'pam', password: 'pam-password' },
        { username: 'tom', password: 'tom-password', method: 'token' },
      ],
    });
  });
  afterAll(async () => {
    await t?.close();
    await bouncer?.stop();
    await db?.drop();
  });

  const cli = async (args: string[]) => {
    const r = await runCli(args, { env: { RADOTP_CONFIG: t.configFile } });
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    return r.stdout;
  };
  const driver = () => radclientDriver(t.port);
  const setStyle = async (style: string) => {
    await cli(['client', 'set', 'nas', '--login', style]);
    await new Promise((r) => setTimeout(r, 700)); // clientRefresh is 0.2 s in tests
  };
  const auditReasons = async (username: string, n: number) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const rows = (await t.store.audit.recent({ username, limit: 100 })).filter((r) => r.detail?.admin === undefined);
      if (rows.length >= n || Date.now() > deadline) return rows.reverse().map((r) => `${r.result}:${r.reason}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  test('a password login is accepted, and its audit row is written through PgBouncer', async () => {
    expect((await login(driver(), 'pam', 'pam-password', '')).reply).toBe('Access-Accept');
    expect(await auditReasons('pam', 1)).toEqual(['accept:password_ok']);
  });

  test('the CLI enrolls and activates a token through PgBouncer', async () => {
    const enrolled = JSON.parse(await cli(['token', 'enroll', 'tom', '--type', 'hotp', '--json'])) as { serial: string; otpauth_uri: string };
    app = new AppFromUri(enrolled.otpauth_uri);
    expect(await cli(['token', 'activate', enrolled.serial, app.hotp(0)])).toMatch(/is active/);
  });

  test('challenge style: the answer, held in an open transaction while decided, is accepted once', async () => {
    const code = nextCode();
    const first = await login(driver(), 'tom', 'tom-password', code);
    expect([first.first.reply, first.reply]).toEqual(['Access-Challenge', 'Access-Accept']);
    expect((await login(driver(), 'tom', 'tom-password', code)).reply).toBe('Access-Reject'); // a replay
  });

  test.each(['append', 'otp-only'] as const)('%s style: the prepared spend accepts a code, then refuses its replay', async (style) => {
    await setStyle(style);
    const code = nextCode();
    const typed = style === 'append' ? `tom-password${code}` : code;
    for (const expected of ['Access-Accept', 'Access-Reject']) {
      expect((await driver().send({ username: 'tom', password: typed })).reply).toBe(expected);
    }
    await setStyle('challenge');
  });

  test('many logins at once reuse the named prepared statements on PgBouncer connections', async () => {
    await setStyle('otp-only');
    const codes = Array.from({ length: 12 }, () => nextCode());
    const replies = [];
    for (const code of codes) replies.push(await driver().send({ username: 'tom', password: code })); // HOTP: in order
    expect(replies.map((r) => r.reply)).toEqual(codes.map(() => 'Access-Accept'));
    await setStyle('challenge');
  });

  test("serve's session settings reach PostgreSQL through PgBouncer (audit commits unflushed, challenges' idle timeout, spends' lock wait)", async () => {
    const conn = connect(bouncer.via(db.url), { queryTimeoutMs: 4321 });
    // pg_settings.source is 'session' only for a value SET on the connection (the test cluster's own default is off)
    const setting = async (pool: typeof conn.pool, name: string) =>
      (await pool.query<{ setting: string; source: string }>('SELECT setting, source FROM pg_settings WHERE name = $1', [name])).rows[0];
    try {
      expect(await setting(conn.auditPool, 'synchronous_commit')).toEqual({ setting: 'off', source: 'session' });
      expect(await setting(conn.challengePool, 'idle_in_transaction_session_timeout')).toEqual({ setting: '4321', source: 'session' });
      expect(await setting(conn.spendPool, 'lock_timeout')).toEqual({ setting: String(SPEND_LOCK_WAIT_MS), source: 'session' });
      expect((await setting(conn.pool, 'lock_timeout'))?.source).not.toBe('session'); // only spends wait briefly for a lock
      expect((await setting(conn.pool, 'synchronous_commit'))?.source).not.toBe('session'); // spends keep the server's default
    } finally {
      await conn.close();
    }
  });

  test("a password changed with the CLI is heard at once by the server's cache (LISTEN through PgBouncer)", async () => {
    const hitsBefore = await cacheHits(t);
    expect((await login(driver(), 'pam', 'pam-password', '')).reply).toBe('Access-Accept');
    expect(await cacheHits(t)).toBeGreaterThan(hitsBefore); // the cache served it: it trusts its notifications
    await runCli(['user', 'passwd', 'pam', '--password-stdin'], { env: { RADOTP_CONFIG: t.configFile }, stdin: 'pam-new-password\n' });
    await new Promise((r) => setTimeout(r, 300));
    expect((await login(driver(), 'pam', 'pam-password', '')).reply).toBe('Access-Reject');
    expect((await login(driver(), 'pam', 'pam-new-password', '')).reply).toBe('Access-Accept');
  });
});

async function cacheHits(t: TestServer): Promise<number> {
  return (await metricOf(t, 'radotp_login_cache_lookups_total', 'result="hit"')) ?? NaN;
}

describe('PgBouncer pool_mode = transaction', () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    bouncer = await startPgBouncer(db.url, 'transaction');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-pgbouncer-tx-'));
  });
  afterAll(async () => {
    await bouncer?.stop();
    await db?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('serve refuses to start, in one line naming the problem and the fix, before touching the schema', async () => {
    const { file } = testConfig(dir, bouncer.via(db.url), { log: { level: 'info' } });
    const serve = ServeProcess.start(file);
    const { code } = await serve.exited;
    expect(code).toBe(1);
    const refusal = serve.output.split('\n').filter((l) => l.startsWith('radotp: '));
    expect(refusal).toEqual([
      expect.stringMatching(/^radotp: .*database\.url: .*transaction or statement mode.*LISTEN\/NOTIFY.*pool_mode = session/),
    ]);
    expect(serve.output).not.toMatch(/radotp serving|applied schema migrations/);
  });

  // The commands that migrate refuse too: through transaction mode kysely's migrator takes its session-level
  // advisory lock on one server connection, and its unlock can run on another, leaving the lock held on a
  // pooled connection and every later migration (and serve's start) waiting on it.
  test.each([
    ['db migrate', ['db', 'migrate'], 'database.url'],
    ['init', ['init'], 'database.url'],
    ['db migrate, the URL from $RADOTP_DATABASE_URL', ['db', 'migrate'], '$RADOTP_DATABASE_URL'],
  ])('%s refuses in one line naming the fix, migrating and creating nothing', async (_name, args, where) => {
    const rowDir = fs.mkdtempSync(path.join(dir, 'cli-'));
    const url = bouncer.via(db.url);
    const fromEnv = where.startsWith('$');
    const { cfg, file } = testConfig(rowDir, fromEnv ? 'postgres://nobody@127.0.0.1:1/none' : url);
    const r = await runCli(args, { env: { RADOTP_CONFIG: file, RADOTP_DATABASE_URL: fromEnv ? url : undefined } });
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr.split('\n').filter(Boolean) }).toEqual({
      code: 1,
      stdout: '',
      stderr: [expect.stringMatching(new RegExp(`^radotp: (.*: )?${where.replace('$', '\\$')}: .*transaction or statement mode.*pool_mode = session`))],
    });
    expect(fs.existsSync(cfg.keyFilePath)).toBe(false);
    const direct = connect(db.url);
    try {
      const tables = await direct.pool.query<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE tablename LIKE 'radotp%'");
      // this database's only: the other test files' databases share the server, and their migrations and key rotations take advisory locks too
      const locks = await direct.pool.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      );
      expect({ tables: Number(tables.rows[0].n), advisoryLocks: Number(locks.rows[0].n) }).toEqual({ tables: 0, advisoryLocks: 0 });
    } finally {
      await direct.close();
    }
  });
});
