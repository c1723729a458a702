import { Kysely, sql } from 'kysely';

/**
 * Which request spent a token's current step or counter: a 16-byte fingerprint of the RADIUS client's name,
 * the request's Request Authenticator and the User-Name (see src/auth/retransmission.ts), written by the
 * spend's guarded UPDATE itself. A NAS that got no answer from the node that spent the code (killed, or too
 * slow) sends the same packet to another node, whose spend then loses; that node reads this column (only
 * then) to tell the retransmission, to be answered as the original was (RFC 5080 §2.2.2), from a replay.
 * It reveals nothing of the code or the shared secret. Spends by `token verify` (no request) leave NULL.
 * Additive: nullable, no default, no index (a spend stays a HOT update); older nodes do not name it, and
 * their spends leave a stale value, which matches only that very packet and only at the step it spent.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE token ADD COLUMN last_spent_by bytea`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE token DROP COLUMN last_spent_by`.execute(db);
}
