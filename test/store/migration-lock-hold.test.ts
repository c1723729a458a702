import { randomBytes } from 'node:crypto';
import { sql, type Migration } from 'kysely';
import pg from 'pg';
import { migrations } from '../../db';
import { connect, type Connection } from '../../src/store/connect';
import { MigrationError, migrateToLatest } from '../../src/store/migrate';
import { loadLoginData } from '../../src/store/login-data';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { appliedMigrations, KNOWN } from '../support/schema-versions';
import { createTestDatabase, tokenRepository, type TestDatabase } from '../support/test-database';

/*
 * Nodes keep serving logins while the first upgraded node (or `radotp db migrate`) migrates. A migration that
 * alters token (ADD COLUMN, as 0011 and 0012 do: an ACCESS EXCLUSIVE lock, for milliseconds) ran in one
 * transaction with every later migration of the run, so its lock was held until the last of them committed.
 * Measured upgrading 0010 to the newest migration at 100 000 tokens and a day of audit batch ids (1.5 million): every login of
 * every node waited 1.27 s, most of it for 0013's index on audit_batch, a table no login reads. Each migration now
 * commits on its own; one that fails rolls back whole, and those before it stay applied (they are additive, and
 * recorded: the next run goes on from there).
 * The slow migration here waits for an advisory lock the test holds, so "still running" is a fact, not a sleep.
 */

const SLOW_LOCK = 4242;
const keys = new KeyRing(masterKeyFromBytes(randomBytes(32)));

/** The next release: a column added to token, then a long migration that touches no login table. */
const NEXT: Record<string, Migration> = {
  ...migrations,
  '0098_token_note': { up: async (db) => void (await sql`ALTER TABLE token ADD COLUMN note_added_later text`.execute(db)) },
  '0099_long_build': { up: async (db) => void (await sql`SELECT pg_advisory_xact_lock(${SLOW_LOCK})`.execute(db)) },
};
/** The next release's column alone. */
const NEXT_ALTER: Record<string, Migration> = Object.fromEntries(Object.entries(NEXT).filter(([name]) => name !== '0099_long_build'));
/** The same, but its long migration fails. */
const NEXT_FAILING: Record<string, Migration> = {
  ...NEXT,
  '0099_long_build': { up: async (db) => void (await sql`SELECT 1 / 0`.execute(db)) },
};

let db: TestDatabase;
let conn: Connection;
let holder: pg.Client;
let node: Connection;
let userId: bigint;
let tokenId: bigint;

beforeEach(async () => {
  db = await createTestDatabase();
  conn = connect(db.url, { poolSize: 2 });
  await migrateToLatest(conn.db);
  userId = (await sql<{ id: bigint }>`INSERT INTO app_user (username, method) VALUES ('alice', 'token') RETURNING id`.execute(conn.db)).rows[0]!.id;
  await tokenRepository(conn, keys).create({ serial: 'T1', userId, origin: 'hardware', kind: 'totp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomBytes(20) });
  tokenId = (await sql<{ id: bigint }>`SELECT id FROM token WHERE serial = 'T1'`.execute(conn.db)).rows[0]!.id;
  holder = new pg.Client({ connectionString: db.url });
  await holder.connect();
  // a serving node's connection: a login waits at most a second for a lock, then fails
  node = connect(db.url, { poolSize: 1, queryTimeoutMs: 1000 });
});

afterEach(async () => {
  await holder.end();
  await node.close();
  await conn.close();
  await db.drop();
});

/** Waits until the migration is inside its long migration (waiting for the test's advisory lock). */
async function waitForLongMigration(): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const r = await holder.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = ${SLOW_LOCK} AND NOT granted`);
    if (r.rows[0].n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the long migration never started');
}

/** [what a serving node does, it] */
const LOGINS: [string, () => Promise<unknown>][] = [
  ["reads a user's tokens (loadLoginData)", async () => expect((await loadLoginData(node.db, keys, ['alice'])).get('alice')?.tokens).toHaveLength(1)],
  ['spends a code (the login UPDATE)', async () => expect(await tokenRepository(node, keys).acceptStep({ id: tokenId, userId }, 1000, 0)).toBe(true)],
];

test.each(LOGINS)('while a later migration of the run is still going, a node %s', async (_what, login) => {
  await holder.query(`SELECT pg_advisory_lock(${SLOW_LOCK})`);
  const migrating = migrateToLatest(conn.db, NEXT);
  migrating.catch(() => {}); // judged below
  try {
    await waitForLongMigration();
    await login();
  } finally {
    await holder.query(`SELECT pg_advisory_unlock(${SLOW_LOCK})`);
  }
  expect((await migrating).applied).toEqual(['0098_token_note', '0099_long_build']);
});

test('a migration that fails rolls back whole; those before it stay applied, are named, and the next run goes on from there', async () => {
  const failed = migrateToLatest(conn.db, NEXT_FAILING);
  await expect(failed).rejects.toThrow(MigrationError);
  await expect(failed).rejects.toMatchObject({ applied: ['0098_token_note'] });
  await expect(failed).rejects.toThrow(
    'migration 0099_long_build failed: division by zero; it rolled back whole; applied before it, and kept: 0098_token_note',
  );
  expect(await appliedMigrations(conn.db)).toEqual([...KNOWN, '0098_token_note']);
  const column = await sql<{ n: number }>`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'token' AND column_name = 'note_added_later'`.execute(conn.db);
  expect(column.rows[0]!.n).toBe(1);
  expect((await migrateToLatest(conn.db, NEXT)).applied).toEqual(['0099_long_build']);
});

/*
 * A migration's ALTER TABLE token behind a long transaction that has read token (a report, a nightly pg_dump, which
 * holds ACCESS SHARE on every table while it runs): PostgreSQL queues the ALTER's ACCESS EXCLUSIVE request, and
 * every login's read or spend of token queues behind it, on every node, for as long as that transaction lasts.
 * Unless the role or database sets a lock_timeout of its own, a migration waits 2 s for a lock, then gives up
 * (rolled back, to be run again): logins were held up 2 s at most.
 */
test('an ALTER TABLE token behind a long transaction: logins wait 2 s at most, and the migration gives up, to be run again', async () => {
  await holder.query('BEGIN');
  await holder.query('SELECT count(*) FROM token');
  const patient = connect(db.url, { poolSize: 1, queryTimeoutMs: 6000 });
  const migrating = migrateToLatest(conn.db, NEXT_ALTER);
  migrating.catch(() => {}); // judged below
  try {
    await waitForQueuedAlter();
    const started = Date.now();
    expect((await loadLoginData(patient.db, keys, ['alice'])).get('alice')?.tokens).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(3000);
    await expect(migrating).rejects.toThrow(
      'migration 0098_token_note failed: canceling statement due to lock timeout (lock_timeout, SQLSTATE 55P03: another session held a lock it waited for); it rolled back whole, and can be run again',
    );
  } finally {
    await holder.query('ROLLBACK');
    await patient.close();
  }
  expect(await appliedMigrations(conn.db)).toEqual(KNOWN);
  expect((await migrateToLatest(conn.db, NEXT_ALTER)).applied).toEqual(['0098_token_note']);
});

async function waitForQueuedAlter(): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const r = await holder.query(`SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'token'::regclass AND mode = 'AccessExclusiveLock' AND NOT granted`);
    if (r.rows[0].n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the ALTER never queued');
}
