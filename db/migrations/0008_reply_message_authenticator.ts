import { Kysely, sql } from 'kysely';

/**
 * Per client: whether replies always carry a Message-Authenticator (the default, as before) or only when
 * the request did, for a NAS that drops replies holding one (see ReplyMessageAuthenticator in
 * src/radius/types.ts). Additive, with the old behaviour as default: nodes not yet upgraded ignore it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE radius_client ADD COLUMN reply_message_authenticator text NOT NULL DEFAULT 'always'
      CHECK (reply_message_authenticator IN ('always', 'if-requested'))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE radius_client DROP COLUMN reply_message_authenticator`.execute(db);
}
