import { Kysely, sql } from 'kysely';

/**
 * Every node forgets audit batch ids older than a day once a minute (AuditRepository.forgetOldBatchIds).
 * With no index for it, that DELETE read the whole of audit_batch each time, and the table holds a day of
 * batches: at a steady, moderate rate a batch is a few events (the writer flushes every 50 ms), so a node at
 * ~100 requests/s adds ~17 rows/s, 1.5 million a day (136 MB with the primary key), and measured at that
 * size the sequential scan took 330 ms of PostgreSQL per node per minute, for the few hundred rows it
 * deleted. A b-tree on written_at finds just those. Not BRIN (as audit_event's): here the oldest rows are
 * deleted all day and their pages refilled with new ones, which would widen every block range's summary
 * until the index matched the whole table. Batch inserts append at the index's right edge, off the
 * logins' path (the audit trail is written after the replies).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX audit_batch_written_at_idx ON audit_batch (written_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX audit_batch_written_at_idx`.execute(db);
}
