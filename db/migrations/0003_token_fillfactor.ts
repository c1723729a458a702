import { Kysely, sql } from 'kysely';

/**
 * Every accepted code updates its token row (last step, drift, last use). With room left on each page,
 * PostgreSQL can make that a heap-only-tuple update: the new row version stays on the same page and
 * none of the token's three indexes is touched. A full page (the default fillfactor 100, as left by a
 * bulk PSKC import) forces the new version elsewhere and an insert into every index instead.
 * Applies to pages written from now on; existing ones get the room as rows move.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE token SET (fillfactor = 70)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE token RESET (fillfactor)`.execute(db);
}
