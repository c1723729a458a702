import { sql } from 'kysely';
import { migrations } from '../../db';
import { isDatabaseUnavailable, postgresSqlstate, type Db } from './connect';
import { timeoutWording } from './timeout-wording';

/** SQLSTATEs of a connection PostgreSQL refused: 3D000 no such database, 28000 no such role (or pg_hba), 28P01 wrong password. */
const CONNECTION_REFUSED = new Set(['3D000', '28000', '28P01']);

/** The table in which kysely's Migrator records the migrations applied (see migrate.ts). */
export const MIGRATION_TABLE = 'radotp_migration';

/** Where the database's schema stands against the migrations this radotp knows (db/index.ts). */
export interface SchemaVersion {
  /** Migrations the database has applied, by name. Empty for a database without radotp's schema. */
  readonly applied: readonly string[];
  /** Migrations this radotp knows that the database has not applied, in order. */
  readonly pending: readonly string[];
  /** Migrations the database has applied that this radotp does not know: a newer radotp applied them. */
  readonly unknown: readonly string[];
}

/** The schema version could not be read or is one this radotp cannot work with. One line. */
export class SchemaError extends Error {
  override name = 'SchemaError';
}

/**
 * The database lacks migrations this radotp needs, and opening it was not to apply them (only init, db migrate
 * and serve migrate): the caller says which command to run. `empty`: no radotp schema at all.
 */
export class SchemaBehindError extends SchemaError {
  override name = 'SchemaBehindError';
  constructor(readonly version: SchemaVersion) {
    super(`the database schema is older than this radotp (${pendingCount(version)})`);
  }
  get empty(): boolean {
    return this.version.applied.length === 0;
  }
}

/** "1 migration pending", "6 migrations pending". */
export function pendingCount(version: SchemaVersion): string {
  const n = version.pending.length;
  return `${n} migration${n === 1 ? '' : 's'} pending`;
}

/**
 * Reads the applied migrations without changing anything: no migration table is created (the Migrator
 * would), so a command refused for an old schema leaves the database exactly as it found it.
 */
export async function readSchemaVersion(db: Db, known: readonly string[] = Object.keys(migrations)): Promise<SchemaVersion> {
  let applied: string[];
  try {
    // to_regclass: NULL rather than an error when there is no such table (a database never initialised)
    const table = await sql<{ found: boolean }>`SELECT to_regclass(${MIGRATION_TABLE}::text) IS NOT NULL AS found`.execute(db);
    applied = table.rows[0]?.found ? (await sql<{ name: string }>`SELECT name FROM ${sql.table(MIGRATION_TABLE)} ORDER BY name`.execute(db)).rows.map((r) => r.name) : [];
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    // a lock_timeout or statement_timeout the DBA set (a session holding the migration table): the database answered
    const timedOut = timeoutWording(e);
    if (timedOut) throw new SchemaError(`cannot read the schema version: ${why} (${timedOut})`);
    if (isDatabaseUnavailable(e)) throw new SchemaError(`cannot reach the database: ${why}`);
    // the first statement is where a wrong database name, role or password shows: the URL's fault, not the schema's
    if (CONNECTION_REFUSED.has(postgresSqlstate(e) ?? '')) throw new SchemaError(`cannot connect to the database: ${why}`);
    throw new SchemaError(`cannot read the schema version: ${why}`);
  }
  return compareSchema(applied, known);
}

export function compareSchema(applied: readonly string[], known: readonly string[]): SchemaVersion {
  const has = new Set(applied);
  const knows = new Set(known);
  return {
    applied: [...applied].sort(),
    pending: [...known].sort().filter((name) => !has.has(name)),
    unknown: [...applied].sort().filter((name) => !knows.has(name)),
  };
}

/**
 * Refuses a schema that both lacks migrations this radotp has and has migrations it does not know: it was
 * migrated by a radotp of another line (a fork, a branch build), so neither side's additive-migrations rule
 * (db/index.ts) covers the mix, and applying ours on top of theirs could break both.
 */
export function refuseDiverged(version: SchemaVersion): void {
  if (version.pending.length === 0 || version.unknown.length === 0) return;
  throw new SchemaError(
    `the database schema has diverged from this radotp: it lacks ${version.pending.join(', ')} and has ${version.unknown.join(', ')}, ` +
      'which this radotp does not know; run the radotp that migrated it',
  );
}

/** The warning for a schema a newer radotp migrated: this radotp works on it (migrations are additive), but should be upgraded. */
export function newerSchemaWarning(version: SchemaVersion): string | undefined {
  if (version.unknown.length === 0) return undefined;
  return `the database schema is newer than this radotp (${version.unknown.join(', ')}): run the same version on every node`;
}
