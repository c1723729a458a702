import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { connect, type Connection } from '../../src/store/connect';
import { migrateToLatest } from '../../src/store/migrate';
import { openStore } from '../../src/store/open';
import { SchemaBehindError, SchemaError } from '../../src/store/schema-version';
import { appliedMigrations, DIVERGED, KNOWN, LAST, NEWER, NEWER_WARNING, OLDER, OTHER_LINE } from '../support/schema-versions';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * Several nodes share one database and are upgraded one at a time, so a node must open a schema that a newer
 * radotp has migrated (with a warning), refuse one migrated by another line of radotp, and apply nothing
 * unless asked to. The other radotp versions are played by migrateToLatest with other migration lists.
 */

let db: TestDatabase;
let conn: Connection;
let dir: string;

beforeEach(async () => {
  db = await createTestDatabase();
  conn = connect(db.url, { poolSize: 2 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-schema-'));
});
afterEach(async () => {
  await conn.close();
  await db.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Opens the store as a node does (serve: migrate; a CLI command: not), collecting the warnings it logs. */
async function open(migrate: boolean): Promise<{ warnings: string[]; usersListed: number }> {
  const warnings: string[] = [];
  const logger = { info: () => {}, warn: (_o: object, m: string) => void warnings.push(m) };
  const store = await openStore(testConfig(dir, db.url).cfg, { createKey: true, migrate, poolSize: 1, logger });
  try {
    return { warnings, usersListed: (await store.users.list()).length };
  } finally {
    await store.close();
  }
}

const modes: [string, boolean][] = [
  ['migrating (serve, init, db migrate)', true],
  ['not migrating (other CLI commands)', false],
];

describe.each(modes)('opening the store, %s', (_mode, migrate) => {
  test('a schema a newer radotp migrated: opens, with one warning naming the migration this radotp does not know, and changes nothing', async () => {
    await migrateToLatest(conn.db, NEWER);
    expect(await open(migrate)).toEqual({ warnings: [NEWER_WARNING], usersListed: 0 });
    expect(await appliedMigrations(conn.db)).toEqual([...KNOWN, '0099_newer_table']);
  });

  test('a schema migrated by another line of radotp: refused in one line, and nothing applied', async () => {
    await migrateToLatest(conn.db, OTHER_LINE);
    await expect(open(migrate)).rejects.toThrow(new SchemaError(DIVERGED));
    expect(await appliedMigrations(conn.db)).toEqual([...Object.keys(OLDER), '0099_other_line']);
  });

  test('the schema this radotp knows: opens without a warning', async () => {
    await migrateToLatest(conn.db);
    expect(await open(migrate)).toEqual({ warnings: [], usersListed: 0 });
  });
});

test('a schema of the release before: applied when migrating; refused, untouched, when not', async () => {
  await migrateToLatest(conn.db, OLDER);
  const refused = open(false);
  await expect(refused).rejects.toThrow(SchemaBehindError);
  await expect(refused).rejects.toMatchObject({ version: { pending: [LAST], unknown: [] }, empty: false });
  expect(await appliedMigrations(conn.db)).toEqual(Object.keys(OLDER));

  expect(await open(true)).toEqual({ warnings: [], usersListed: 0 });
  expect(await appliedMigrations(conn.db)).toEqual(KNOWN);
});

test('an empty database, not migrating: refused as empty, and no table created', async () => {
  await expect(open(false)).rejects.toMatchObject({ name: 'SchemaBehindError', empty: true, version: { pending: KNOWN } });
  const tables = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`.execute(conn.db);
  expect(tables.rows[0]!.n).toBe(0);
});

/** kysely's PostgreSQL adapter serialises migrations under this session advisory lock (postgres-adapter.js, LOCK_ID). */
const KYSELY_MIGRATION_LOCK = '3853314791062309107';

test('a newer radotp migrating while this one waits for the migration lock: this one starts, and sees the schema is newer', async () => {
  await migrateToLatest(conn.db, OLDER);
  // The newer node: holds the lock while it migrates (the rows stand for its migrations having run).
  const newerNode = new pg.Client({ connectionString: db.url });
  await newerNode.connect();
  try {
    await newerNode.query(`SELECT pg_advisory_lock(${KYSELY_MIGRATION_LOCK})`);
    const starting = migrateToLatest(conn.db); // sees LAST pending, then waits for the lock
    starting.catch(() => {}); // judged below; not an unhandled rejection meanwhile
    await waitForLockWaiter(newerNode);
    await newerNode.query(`INSERT INTO radotp_migration (name, timestamp) VALUES ($1, $2), ('0099_newer_table', $2)`, [LAST, new Date().toISOString()]);
    await newerNode.query(`SELECT pg_advisory_unlock(${KYSELY_MIGRATION_LOCK})`);
    const outcome = await starting;
    expect(outcome).toEqual({ applied: [], version: { applied: [...KNOWN, '0099_newer_table'], pending: [], unknown: ['0099_newer_table'] } });
  } finally {
    await newerNode.end();
  }
});

test('two nodes of this release starting together on an empty database: every migration applied once, both start', async () => {
  const other = connect(db.url, { poolSize: 2 });
  try {
    const outcomes = await Promise.all([migrateToLatest(conn.db), migrateToLatest(other.db)]);
    expect(outcomes.flatMap((o) => o.applied).sort()).toEqual(KNOWN);
    expect(outcomes.map((o) => o.version.pending)).toEqual([[], []]);
  } finally {
    await other.close();
  }
});

async function waitForLockWaiter(client: pg.Client): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
    const r = await client.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
    if (r.rows[0].n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('no migration waited for the lock');
}
