import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { KeyRing, readKeyFile } from '../../src/secrets/keyring';
import { openStore, type Store } from '../../src/store/open';
import { cliEnv, RADOTP_BIN } from '../support/cli';
import { insertSealedTokens, seedsByKey } from '../support/sealed-tokens';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/*
 * An admin presses Ctrl-C on `radotp keys rotate` (or its ssh session drops) while it writes. The transaction
 * never commits, so every seed stays under the old key. But the command's PostgreSQL session outlived it: waiting
 * for a row another session held, it noticed its client gone only once that row was let go, and meanwhile kept
 * every token row it had already re-sealed locked, each of those users' logins waiting on it up to serve's
 * database.queryTimeout. The rotation now has PostgreSQL check its client every second while it runs
 * (client_connection_check_interval, PostgreSQL 14+), so the session ends, and its locks with it, soon after.
 */

let db: TestDatabase;
let root: string;
let store: Store;
let configFile: string;
let newKeyFile: string;

beforeAll(async () => {
  db = await createTestDatabase();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-rotate-interrupted-'));
  newKeyFile = path.join(root, 'new.key');
  fs.writeFileSync(newKeyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const c = testConfig(root, db.url, { keyFile: path.join(root, 'master.key'), previousKeyFiles: [newKeyFile] });
  configFile = c.file;
  store = await openStore(c.cfg, { createKey: true, migrate: true, poolSize: 2 });
  // three chunks of writes (5000 rows each)
  await insertSealedTokens(store.db, new KeyRing(store.keys.current), 12_000, 'T-');
}, 60_000);

afterAll(async () => {
  await store?.close();
  await db?.drop();
  fs.rmSync(root, { recursive: true, force: true });
});

test('keys rotate interrupted (SIGINT) while it writes: every seed stays under the old key, and the rows it had written are let go at once', async () => {
  const locker = new pg.Client({ connectionString: db.url, application_name: 'radotp node' });
  await locker.connect();
  try {
    // a node's spend of the last token, not yet committed: the rotation writes the first 10 000 rows and waits there
    await locker.query('BEGIN');
    await locker.query(`UPDATE token SET fail_count = fail_count WHERE serial = 'T-11999'`);
    const child = spawn(process.execPath, [RADOTP_BIN, 'keys', 'rotate', '--new-key-file', newKeyFile], { env: cliEnv({ RADOTP_CONFIG: configFile }), stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
    await waitFor('the rotation waiting on the held row', async () => {
      const waiting = await sql`SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'radotp-cli %' AND wait_event_type = 'Lock'`.execute(store.db);
      return waiting.rows.length > 0 ? true : undefined;
    });
    child.kill('SIGINT');
    expect(await exited).toBe('SIGINT');
    // the first user's login, while the node still holds the last row: it must not wait for the dead command
    // (given up after 5 s, as serve gives up after database.queryTimeout)
    const login = new pg.Client({ connectionString: db.url, application_name: 'radotp node', statement_timeout: 5_000 });
    await login.connect();
    try {
      const started = Date.now();
      const spent = await login.query(`UPDATE token SET last_used_at = now() WHERE serial = 'T-0'`).then(
        (r) => `${r.rowCount} row updated`,
        (e: Error) => e.message,
      );
      expect({ spent, waitedUnder3s: Date.now() - started < 3_000 }).toEqual({ spent: '1 row updated', waitedUnder3s: true });
    } finally {
      await login.end();
      await locker.query('ROLLBACK');
    }
  } finally {
    await locker.end();
  }
  expect(await seedsByKey(store.db)).toEqual([[store.keys.current.idHex, 12_000]]);
  expect(readKeyFile(newKeyFile).idHex).not.toBe(store.keys.current.idHex);
  // and the audit trail has no rotation: it commits with the change or not at all
  expect((await store.audit.recent({ limit: 100 })).filter((e) => e.method === 'keys rotate')).toEqual([]);
});
