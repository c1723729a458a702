import { Migrator, type MigrationResultSet } from 'kysely';
import { migrations } from '../../db';
import { isDatabaseUnavailable, type Db } from './connect';

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Applies every pending migration. kysely's PostgreSQL adapter takes `pg_advisory_xact_lock` inside the
 * migration transaction, so two nodes starting together apply each migration exactly once.
 */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: 'radotp_migration',
    migrationLockTableName: 'radotp_migration_lock',
  });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const why = result.error instanceof Error ? result.error.message : String(result.error);
    if (failed) throw new MigrationError(`migration ${failed.migrationName} failed: ${why}`);
    // No migration ran: the database could not be reached, or its schema version not read.
    if (isDatabaseUnavailable(result.error)) throw new MigrationError(`cannot reach the database: ${why}`);
    throw new MigrationError(`cannot read the schema version: ${why}`);
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
