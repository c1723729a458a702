import { Kysely, sql } from 'kysely';

/**
 * Per client: `--require-message-authenticator auto`, stored beside require_message_authenticator (false for such a
 * client) rather than by widening that boolean, which nodes not yet upgraded read. Additive, false by default: an
 * older node ignores it and serves an auto client as `no` (it never learns, as before).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE radius_client ADD COLUMN learn_message_authenticator boolean NOT NULL DEFAULT false`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE radius_client DROP COLUMN learn_message_authenticator`.execute(db);
}
