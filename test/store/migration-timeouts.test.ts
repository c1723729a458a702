import { sql, type Migration } from 'kysely';
import pg from 'pg';
import { migrations } from '../../db';
import { connect, type Connection } from '../../src/store/connect';
import { MigrationError, migrateToLatest } from '../../src/store/migrate';
import { SchemaError } from '../../src/store/schema-version';
import { appliedMigrations, KNOWN } from '../support/schema-versions';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A DBA's lock_timeout or statement_timeout (ALTER ROLE … IN DATABASE … SET) cancels a migration waiting behind
 * another session's lock: an ALTER behind a long report, the migration lock behind a node still migrating. The
 * message said 'cannot reach the database', or gave PostgreSQL's words alone, where the one on call needs the
 * setting, the SQLSTATE, and that nothing was half applied.
 */

/** kysely's PostgreSQL adapter serialises migrations under this session advisory lock (postgres-adapter.js, LOCK_ID). */
const KYSELY_MIGRATION_LOCK = '3853314791062309107';

/** The next release: one more migration, altering a table logins use. */
const NEXT = '0099_token_note';
const WITH_ALTER: Record<string, Migration> = {
  ...migrations,
  [NEXT]: { up: async (db) => void (await sql`ALTER TABLE token ADD COLUMN note_added_later text`.execute(db)) },
};

const ROLLED_BACK = 'it rolled back whole, and can be run again';
const NOTHING_RAN = 'nothing was applied, and it can be run again';
const LOCK_TIMEOUT = 'lock_timeout, SQLSTATE 55P03: another session held a lock it waited for';
const STATEMENT_TIMEOUT = 'statement_timeout or a cancel request, SQLSTATE 57014: PostgreSQL canceled it';

/** [what waits, the DBA's setting, what the other session holds, the error, its message] */
type Row = [string, 'lock_timeout' | 'statement_timeout', string, typeof MigrationError | typeof SchemaError, string];
const ROWS: Row[] = [
  [
    "the migration's ALTER TABLE token, behind a session reading token",
    'lock_timeout',
    'BEGIN; SELECT count(*) FROM token',
    MigrationError,
    `migration ${NEXT} failed: canceling statement due to lock timeout (${LOCK_TIMEOUT}); ${ROLLED_BACK}`,
  ],
  [
    "the migration's ALTER TABLE token, behind a session reading token",
    'statement_timeout',
    'BEGIN; SELECT count(*) FROM token',
    MigrationError,
    `migration ${NEXT} failed: canceling statement due to statement timeout (${STATEMENT_TIMEOUT}); ${ROLLED_BACK}`,
  ],
  [
    'the migration lock, behind a node still migrating',
    'statement_timeout',
    `SELECT pg_advisory_lock(${KYSELY_MIGRATION_LOCK})`,
    MigrationError,
    `migrating stopped before any migration ran: canceling statement due to statement timeout (${STATEMENT_TIMEOUT}); ${NOTHING_RAN}`,
  ],
  [
    'reading the schema version, behind a session holding the migration table',
    'lock_timeout',
    'BEGIN; LOCK TABLE radotp_migration IN ACCESS EXCLUSIVE MODE',
    SchemaError,
    `cannot read the schema version: canceling statement due to lock timeout (${LOCK_TIMEOUT})`,
  ],
];

let db: TestDatabase;
let conn: Connection;

beforeEach(async () => {
  db = await createTestDatabase();
  conn = connect(db.url, { poolSize: 2 });
  await migrateToLatest(conn.db);
});
afterEach(async () => {
  await conn.close();
  await db.drop(); // and with it the role's settings in it
});

/** A node's migration on a connection of its own, opened now (a role's settings apply to new sessions). */
async function migrateAsANode(): Promise<string[]> {
  const node = connect(db.url, { poolSize: 1 });
  try {
    return (await migrateToLatest(node.db, WITH_ALTER)).applied;
  } finally {
    await node.close();
  }
}

test.each(ROWS)('%s, canceled by a %s: the message names it, and nothing is applied', async (_what, setting, held, error, message) => {
  const url = new URL(db.url);
  await sql.raw(`ALTER ROLE "${decodeURIComponent(url.username)}" IN DATABASE "${url.pathname.slice(1)}" SET ${setting} = '300ms'`).execute(conn.db);
  const other = new pg.Client({ connectionString: db.url });
  await other.connect();
  let migrating: Promise<string[]>;
  try {
    await other.query(held);
    migrating = migrateAsANode();
    await migrating.catch(() => {}); // judged below, with the other session gone (this test's reads would wait on it too)
  } finally {
    await other.end(); // its transaction rolled back, its session lock gone
  }
  await expect(migrating).rejects.toThrow(new error(message));
  await expect(migrating).rejects.toBeInstanceOf(error);
  expect(await appliedMigrations(conn.db)).toEqual(KNOWN);
  expect(await migrateAsANode()).toEqual([NEXT]);
});
