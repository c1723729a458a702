import { Kysely, sql } from 'kysely';

/**
 * A deleted token's used codes stay used. `token delete` followed by a re-import of the vendor's file (to
 * "reset" a token, or after deleting the wrong one) used to start the token again from the file's counter:
 * every HOTP code it had ever shown near that counter was accepted once more. RFC 6238 §5.2: "The verifier
 * MUST NOT accept the second attempt of the OTP after the successful validation has been issued for the
 * first OTP"; for HOTP, RFC 4226 §7.2 has the server move its counter past every validated value.
 *
 * Triggers, so every path is covered whatever deletes or inserts (the CLI, the pending-token purge, an
 * older node during a rolling upgrade): a deleted token's replay state is kept by serial, and a token
 * inserted under that serial starts at or beyond it. Nothing of the seed is kept. Never-activated
 * (pending) tokens have used no code and leave nothing behind. Additive: older nodes ignore the table and
 * get the protection all the same.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE token_retired (
      serial       text PRIMARY KEY,
      last_step    bigint NOT NULL,
      next_counter bigint NOT NULL,
      retired_at   timestamptz NOT NULL DEFAULT now()
    );

    CREATE FUNCTION radotp_token_retire() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.state <> 'pending' THEN
        INSERT INTO token_retired AS r (serial, last_step, next_counter) VALUES (OLD.serial, OLD.last_step, OLD.next_counter)
        ON CONFLICT (serial) DO UPDATE SET
          last_step = greatest(r.last_step, excluded.last_step),
          next_counter = greatest(r.next_counter, excluded.next_counter),
          retired_at = now();
      END IF;
      RETURN OLD;
    END $$;
    CREATE TRIGGER token_retired_keeps_replay_state AFTER DELETE ON token
      FOR EACH ROW EXECUTE FUNCTION radotp_token_retire();

    -- A delete of this serial still uncommitted (a re-import racing it) writes its token_retired row at its
    -- commit: wait for it first (FOR KEY SHARE conflicts with the delete, not with logins' updates), then
    -- read token_retired in a new snapshot (a VOLATILE function takes one per statement in READ COMMITTED).
    -- Read first, the insert only waited on the serial's unique index later and missed the deleted state.
    CREATE FUNCTION radotp_token_resume_replay_state() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE r token_retired%ROWTYPE;
    BEGIN
      PERFORM 1 FROM token WHERE serial = NEW.serial FOR KEY SHARE;
      SELECT * INTO r FROM token_retired WHERE serial = NEW.serial;
      IF FOUND THEN
        NEW.last_step := greatest(NEW.last_step, r.last_step);
        NEW.next_counter := greatest(NEW.next_counter, r.next_counter);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER token_resumes_replay_state BEFORE INSERT ON token
      FOR EACH ROW EXECUTE FUNCTION radotp_token_resume_replay_state();`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TRIGGER token_resumes_replay_state ON token;
    DROP FUNCTION radotp_token_resume_replay_state();
    DROP TRIGGER token_retired_keeps_replay_state ON token;
    DROP FUNCTION radotp_token_retire();
    DROP TABLE token_retired;`.execute(db);
}
