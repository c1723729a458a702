import { Kysely, sql } from 'kysely';

/**
 * The audit trail gets a row per decision, written on the login path's heels, so every index on it is
 * paid for by every login (and by the WAL flush that each login's spend waits for). Two B-trees, on
 * `at` and on `(username, at)`, cost more than the insert itself: measured, dropping them took a
 * third off the audit statement and about 10 % off otp-only throughput.
 * Time is what the trail is read by (the last hour, day, week: see AuditRepository.recent), and rows
 * arrive in time order, which is what a BRIN index is for: one summary per range of pages, next to
 * nothing to maintain. A per-user question scans those ranges newest first.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX audit_event_at_idx;
    DROP INDEX audit_event_username_idx;
    CREATE INDEX audit_event_at_brin ON audit_event USING brin (at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX audit_event_at_brin;
    CREATE INDEX audit_event_at_idx ON audit_event (at);
    CREATE INDEX audit_event_username_idx ON audit_event (username, at);
  `.execute(db);
}
