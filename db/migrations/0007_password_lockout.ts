import { Kysely, sql } from 'kysely';

/**
 * Wrong passwords counted per user, as wrong codes are per token: without it a password could be
 * guessed at argon2 speed, and in the challenge style an Access-Challenge tells the guesser the password
 * was right before any code is asked for.
 * A table of its own, not columns of `app_user`: every write to `app_user` notifies every node to drop
 * the user from its cache (0002), and a wrong password is not an admin change. A user without a row has
 * no failures; the row goes with the user.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE password_lockout (
      user_id bigint PRIMARY KEY REFERENCES app_user (id) ON DELETE CASCADE,
      fail_count integer NOT NULL CHECK (fail_count > 0),
      locked_until timestamptz,
      last_fail_at timestamptz NOT NULL
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE password_lockout`.execute(db);
}
