import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/open';
import { hotpForCounter } from '../support/otp-codes';
import { runCli } from '../support/cli';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/*
 * CLI commands do not time out (an admin's statement may take as long as it needs), but one waiting on a row another
 * session holds (a DBA's `SELECT … FOR UPDATE` in a transaction left open, a stuck script) printed nothing at all:
 * `radotp token unlock` sat there, the admin staring at a silent terminal with nothing to say why or who. After a
 * few seconds it now says once, on stderr, which session holds it up (its pid, application, state and since when)
 * and that it goes on waiting; it still finishes as before once the row is let go.
 */

let db: TestDatabase;
let root: string;
let store: Store;
let configFile: string;
const seed = randomBytes(20);

beforeAll(async () => {
  db = await createTestDatabase();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-held-row-'));
  const c = testConfig(root, db.url, { keyFile: path.join(root, 'master.key') });
  configFile = c.file;
  store = await openStore(c.cfg, { createKey: true, migrate: true, poolSize: 2 });
}, 60_000);

afterAll(async () => {
  await store?.close();
  await db?.drop();
  fs.rmSync(root, { recursive: true, force: true });
});

test.each([
  { command: 'token unlock', serial: 'HELD-UNLOCK', args: (s: string) => ['token', 'unlock', s], printed: (s: string) => `token ${s} unlocked\n` },
  { command: 'token verify', serial: 'HELD-VERIFY', args: (s: string) => ['token', 'verify', s, hotpForCounter(seed, 0)], printed: () => 'code accepted\n' },
])('`radotp $command` waiting on a token row another session holds says who holds it, and finishes once it is let go', async ({ serial, args, printed }) => {
  const t = await store.tokens.create({ serial, userId: null, origin: 'hardware', kind: 'hotp', state: 'unassigned', algorithm: 'sha1', digits: 6, seed });
  await store.tokens.recordFailure([t.id], [randomBytes(32)], 5, 600);
  const locker = new pg.Client({ connectionString: db.url, application_name: 'dba-script' });
  await locker.connect();
  let released = false;
  try {
    const lockerPid = (await locker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM token WHERE serial = $1 FOR UPDATE', [serial]);
    const running = runCli(args(serial), { env: { RADOTP_CONFIG: configFile }, timeoutMs: 30_000 });
    // once the command waits on the row, held past its next check (every 3 s), then let go
    await waitFor('the command waiting on the row', async () => {
      // not on the locker's connection: in a transaction, pg_stat_activity is read once and kept
      const waiting = await sql`SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'radotp-cli %' AND wait_event_type = 'Lock'`.execute(store.db);
      return waiting.rows.length > 0 ? true : undefined;
    }, 20_000);
    await new Promise((r) => setTimeout(r, 6000));
    await locker.query('ROLLBACK');
    released = true;
    const r = await running;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(printed(serial));
    const notice = r.stderr.split('\n').filter((l) => l !== '');
    expect(notice).toHaveLength(1);
    expect(notice[0]).toMatch(new RegExp(`^radotp: waiting for the database: session ${lockerPid} \\(dba-script, idle in transaction since .+\\) holds what this command needs`));
  } finally {
    if (!released) await locker.query('ROLLBACK');
    await locker.end();
  }
}, 60_000);

test('a command that waits on nothing prints no notice', async () => {
  const r = await runCli(['token', 'list'], { env: { RADOTP_CONFIG: configFile } });
  expect(r).toEqual(expect.objectContaining({ code: 0, stderr: '' }));
});
