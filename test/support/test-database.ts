import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connect, type Connection } from '../../src/store/connect';
import { migrateToLatest } from '../../src/store/migrate';
import { poolRunner } from '../../src/store/prepared';
import { TokenRepository } from '../../src/store/tokens';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';

export interface TestDatabase {
  /** postgres://… to a fresh, empty database of its own. */
  readonly url: string;
  /** Drops the database, disconnecting anyone still connected. Idempotent. */
  drop(): Promise<void>;
}

let created = 0;

function adminUrl(): string {
  const url = process.env.RADOTP_TEST_ADMIN_URL;
  if (!url) throw new Error('RADOTP_TEST_ADMIN_URL is not set: run the tests through jest, whose globalSetup provides PostgreSQL');
  return url;
}

async function asAdmin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl(), application_name: 'radotp-test-admin' });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A new empty database on the test server, for one test file (call in beforeAll, drop in afterAll). */
export async function createTestDatabase(): Promise<TestDatabase> {
  // Unique across jest workers (pid) and within one (counter); the random part guards against leftovers
  // from an earlier run against a shared RADOTP_TEST_DATABASE_URL server.
  const name = `radotp_test_${process.pid}_${++created}_${randomBytes(3).toString('hex')}`;
  // template0 accepts no connections, so concurrent CREATE DATABASE never fails with "source database is being
  // accessed by other users", as it can with template1.
  await asAdmin(`CREATE DATABASE ${name} TEMPLATE template0`);
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => asAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

export interface MigratedDatabase {
  readonly url: string;
  /** A pool of 2 connections (and the audit pool) to the database. */
  readonly conn: Connection;
  /** Closes the connection and drops the database. */
  close(): Promise<void>;
}

/** A new database with radotp's schema migrated and a connection to it, for one test file of the store. */
export async function createMigratedDatabase(): Promise<MigratedDatabase> {
  const db = await createTestDatabase();
  const conn = connect(db.url, { poolSize: 2 });
  const close = async () => {
    await conn.close();
    await db.drop();
  };
  try {
    await migrateToLatest(conn.db);
  } catch (e) {
    await close();
    throw e;
  }
  return { url: db.url, conn, close };
}

/** A token repository on `conn`, sealing seeds under a fresh random key unless given one. */
export function tokenRepository(conn: Connection, keys: KeyRing = new KeyRing(masterKeyFromBytes(randomBytes(32)))): TokenRepository {
  return new TokenRepository(conn.db, keys, poolRunner(conn.pool));
}

/** Every row of every table of radotp's schema, as text: what a test of "changed nothing" compares before and after. */
export async function databaseContent(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(`SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`);
    const parts: string[] = [];
    for (const { name } of tables.rows) {
      const rows = await client.query<{ t: string | null }>(`SELECT string_agg(x::text, E'\\n' ORDER BY x::text) AS t FROM ${name} x`);
      parts.push(`${name}: ${rows.rows[0]!.t}`);
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}

/** A DBA's `ALTER DATABASE … SET setting = value` on the test database (`null`: RESET), as new sessions see it. */
export async function setOnDatabase(url: string, setting: 'lock_timeout' | 'statement_timeout', value: string | null): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const name = (await c.query('SELECT current_database() AS name')).rows[0].name as string;
    await c.query(value === null ? `ALTER DATABASE ${name} RESET ${setting}` : `ALTER DATABASE ${name} SET ${setting} = '${value}'`);
  } finally {
    await c.end();
  }
}
