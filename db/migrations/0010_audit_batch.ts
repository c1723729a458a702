import { Kysely, sql } from 'kysely';

/**
 * The audit batches written, by the id their node gave them, so a batch is inserted once however often it
 * is sent. A batch whose insert committed but whose answer never came back (the connection reset after the
 * commit, or `serve` gave up on a slow database after database.queryTimeout while the insert went on) is
 * sent again by the AuditWriter; it used to land twice in the trail. Ids are kept a day (serve's minute
 * housekeeping deletes older ones): a retry comes within seconds of the lost answer. Additive: older nodes
 * insert their batches as before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE audit_batch (
      id         uuid PRIMARY KEY,
      written_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE audit_batch`.execute(db);
}
