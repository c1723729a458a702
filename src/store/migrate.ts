import { Migrator, type Migration, type MigrationResultSet } from 'kysely';
import { migrations } from '../../db';
import { isDatabaseUnavailable, type Db } from './connect';
import { MIGRATION_TABLE, readSchemaVersion, refuseDiverged, type SchemaVersion } from './schema-version';
import { timeoutWording } from './timeout-wording';

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export interface MigrationOutcome {
  /** The migrations this call applied, in order (none when another node had applied them). */
  readonly applied: string[];
  /** The schema afterwards: its `unknown` migrations are those of a newer radotp (see schema-version.ts). */
  readonly version: SchemaVersion;
}

/**
 * Applies every pending migration. kysely's PostgreSQL adapter takes `pg_advisory_lock` around the
 * migration transaction, so two nodes starting together apply each migration exactly once.
 *
 * A schema a newer radotp has migrated (every migration we know applied, and more) is left alone: kysely's
 * Migrator would refuse it ("previously executed migration X is missing") and so stop an older node from
 * restarting in the middle of a rolling upgrade. Migrations are additive (db/index.ts), so the older node
 * works on it. `known` is for tests, to play a newer or another radotp.
 */
export async function migrateToLatest(db: Db, known: Record<string, Migration> = migrations): Promise<MigrationOutcome> {
  const names = Object.keys(known);
  const before = await readSchemaVersion(db, names);
  refuseDiverged(before);
  // Nothing to apply: the Migrator is not run at all (it would refuse a newer schema, and write nothing anyway).
  if (before.pending.length === 0) return { applied: [], version: before };

  const result: MigrationResultSet = await migrator(db, known).migrateToLatest();
  const applied = (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  if (!result.error) return { applied, version: await readSchemaVersion(db, names) };

  const failed = result.results?.find((r) => r.status === 'Error');
  const why = result.error instanceof Error ? result.error.message : String(result.error);
  /*
   * A DBA's lock_timeout or statement_timeout ending a statement (an ALTER behind a session holding its table, the
   * migration lock behind a node still migrating) is said as such, and that nothing is half applied: every
   * pending migration runs in the one transaction (kysely's Migrator, transactional DDL), which then rolls back.
   */
  const timedOut = timeoutWording(result.error);
  if (failed && timedOut) {
    throw new MigrationError(`migration ${failed.migrationName} failed: ${why} (${timedOut}); it rolled back whole, with every migration of this run, and can be run again`);
  }
  if (failed) throw new MigrationError(`migration ${failed.migrationName} failed: ${why}`);
  if (timedOut) throw new MigrationError(`migrating stopped before any migration ran: ${why} (${timedOut}); nothing was applied, and it can be run again`);
  // No migration ran: the database could not be reached, or its schema version not read.
  if (isDatabaseUnavailable(result.error)) throw new MigrationError(`cannot reach the database: ${why}`);
  // Or a newer radotp migrated past us while we waited for the lock, which the Migrator refuses: judge by
  // the schema as it now is.
  const after = await readSchemaVersion(db, names).catch(() => undefined);
  if (after) {
    refuseDiverged(after);
    if (after.pending.length === 0) return { applied, version: after };
  }
  throw new MigrationError(`cannot read the schema version: ${why}`);
}

function migrator(db: Db, known: Record<string, Migration>): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: async () => known },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: 'radotp_migration_lock',
  });
}
