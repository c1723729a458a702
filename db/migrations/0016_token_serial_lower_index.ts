import { Kysely, sql } from 'kysely';

/**
 * Serials are read off a fob and typed in whatever case (src/tokens/serial-lookup.ts), so every token command
 * given a serial not stored exactly as typed, `token show` of a serial that does not exist, and the case checks
 * of token import and user import look serials up by `lower(serial)`. No index served that expression: each
 * lookup read the whole serial index or the whole table. Measured at 100 000 tokens (PostgreSQL 15): 35 ms and
 * 387 pages per lookup, 38-55 ms per import chunk; with this index 0.1 ms, 4 pages, and 17-21 ms for a chunk of
 * 5 000 serials (index probes). Not UNIQUE: tokens differing only by case may exist (imported before imports
 * refused them; the lookups name them, see resolveSerial).
 * A login never writes `serial`, so a spend stays a heap-only-tuple update (see 0003). The build takes a SHARE
 * lock on token (spends wait for it) until this migration commits: measured 129 ms at 100 000 tokens. Not
 * CONCURRENTLY: each migration runs in a transaction (src/store/migrate.ts), where PostgreSQL refuses it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX token_serial_lower_idx ON token (lower(serial))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX token_serial_lower_idx`.execute(db);
}
