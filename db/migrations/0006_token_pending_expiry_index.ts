import { Kysely, sql } from 'kysely';

/**
 * Every node deletes expired pending tokens once a minute (TokenRepository.deleteExpiredPending). With no
 * index for it, that DELETE read the whole token table each time: measured with 125 000 pool tokens, a
 * sequential scan of 5 209 pages and 20 ms of PostgreSQL per node per minute, growing with the pool and
 * pulling every page of it through the buffer cache. Pending tokens are few and short-lived, so a partial
 * index holds only them and is next to empty.
 * A login's spend does not touch `state` or `pending_expires_at`, so it stays a heap-only-tuple update
 * (see 0003): the new index costs nothing on the login path.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX token_pending_expiry_idx ON token (pending_expires_at) WHERE state = 'pending'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX token_pending_expiry_idx`.execute(db);
}
