import { Migrator, sql, type Migration, type MigrationResultSet } from 'kysely';
import { migrations } from '../../db';
import { isDatabaseUnavailable, type Db } from './connect';
import { MIGRATION_TABLE, readSchemaVersion, refuseDiverged, type SchemaVersion } from './schema-version';
import { timeoutWording } from './timeout-wording';

export class MigrationError extends Error {
  override name = 'MigrationError';
  constructor(
    message: string,
    /** The migrations this run applied and committed before it stopped (each commits on its own). */
    readonly applied: readonly string[] = [],
  ) {
    super(message);
  }
}

export interface MigrationOutcome {
  /** The migrations this call applied, in order (none when another node had applied them). */
  readonly applied: string[];
  /** The schema afterwards: its `unknown` migrations are those of a newer radotp (see schema-version.ts). */
  readonly version: SchemaVersion;
}

/**
 * Applies every pending migration, each in a transaction of its own. kysely's PostgreSQL adapter takes
 * `pg_advisory_lock` around each migration's transaction, so two nodes starting together apply each migration
 * exactly once.
 *
 * One transaction per migration, not one for the run: other nodes serve logins meanwhile, and a migration's
 * locks last until its transaction commits. In one transaction for the run, the ACCESS EXCLUSIVE lock of an
 * `ALTER TABLE token` (0011, 0012) was held until the last migration of the run committed: measured upgrading
 * 0010 to the newest migration at 100 000 tokens and a day of audit batch ids, every login on every node waited 1.27 s, most of
 * it for 0013's index on audit_batch, which no login reads (131 ms at worst, one per migration). A migration that
 * fails rolls back whole; those before it stay applied and recorded (they are additive, see db/index.ts), and the
 * next run goes on from there.
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

  const applied: string[] = [];
  const run = migrator(db, known);
  for (;;) {
    // the next pending migration, in its own transaction under the migration lock; none left: no result
    const result: MigrationResultSet = await run.migrateUp();
    applied.push(...(result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName));
    if (result.error) return failedRun(db, names, result, applied);
    if (!result.results?.length) return { applied, version: await readSchemaVersion(db, names) };
  }
}

/** What a run that stopped on an error did: applied `applied` first, then met `result.error`. */
async function failedRun(db: Db, names: string[], result: MigrationResultSet, applied: readonly string[]): Promise<MigrationOutcome> {
  const failed = result.results?.find((r) => r.status === 'Error');
  const why = result.error instanceof Error ? result.error.message : String(result.error);
  // what this run committed before the failure stays: said, so the one on call knows the schema is in between
  const kept = applied.length > 0 ? `; applied before it, and kept: ${applied.join(', ')}` : '';
  /*
   * A DBA's lock_timeout or statement_timeout ending a statement (an ALTER behind a session holding its table, the
   * migration lock behind a node still migrating) is said as such, and that nothing of that migration is half
   * applied: it runs in one transaction (kysely's Migrator, transactional DDL), which then rolls back.
   */
  const timedOut = timeoutWording(result.error);
  if (failed && timedOut) throw new MigrationError(`migration ${failed.migrationName} failed: ${why} (${timedOut}); it rolled back whole, and can be run again${kept}`, applied);
  if (failed) throw new MigrationError(`migration ${failed.migrationName} failed: ${why}; it rolled back whole${kept}`, applied);
  if (timedOut) {
    const none = applied.length > 0 ? `no further migration was applied (this run applied, and kept: ${applied.join(', ')})` : 'nothing was applied';
    throw new MigrationError(`migrating stopped before ${applied.length > 0 ? 'the next' : 'any'} migration ran: ${why} (${timedOut}); ${none}, and it can be run again`, applied);
  }
  // No migration ran: the database could not be reached, or its schema version not read.
  if (isDatabaseUnavailable(result.error)) throw new MigrationError(`cannot reach the database: ${why}${kept}`, applied);
  // Or a newer radotp migrated past us while we waited for the lock, which the Migrator refuses: judge by
  // the schema as it now is.
  const after = await readSchemaVersion(db, names).catch(() => undefined);
  if (after) {
    refuseDiverged(after);
    if (after.pending.length === 0) return { applied: [...applied], version: after };
  }
  throw new MigrationError(`cannot read the schema version: ${why}${kept}`, applied);
}

/**
 * How long a migration waits for a lock, unless the role or database sets a lock_timeout of its own. A lock request
 * that waits is queued, and every later request that conflicts with it waits behind it: an ALTER TABLE token behind
 * a long transaction that read token (a report, a nightly pg_dump) held up every login's read and spend of token, on
 * every node, for as long as that transaction lasted. Given up after this long, the migration rolls back, to be run
 * again; logins were held up that long at most.
 */
export const MIGRATION_LOCK_TIMEOUT = '2s';

/** `known`, each migration first setting MIGRATION_LOCK_TIMEOUT for its transaction where no lock_timeout is set. */
function underLockTimeout(known: Record<string, Migration>): Record<string, Migration> {
  return Object.fromEntries(
    Object.entries(known).map(([name, m]) => [
      name,
      {
        ...m,
        up: async (db) => {
          await sql`SELECT set_config('lock_timeout', ${MIGRATION_LOCK_TIMEOUT}, true) WHERE current_setting('lock_timeout') IN ('0', '0ms')`.execute(db);
          await m.up(db);
        },
      },
    ]),
  );
}

function migrator(db: Db, known: Record<string, Migration>): Migrator {
  const guarded = underLockTimeout(known);
  return new Migrator({
    db,
    provider: { getMigrations: async () => guarded },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: 'radotp_migration_lock',
  });
}
