import { Kysely, sql } from 'kysely';

/**
 * A serial deleted and inserted again resumes the deleted token's replay state (migration 0009) only when
 * it comes back with the SAME seed. A reprogrammable token (Token2 programmable, a YubiKey OATH slot) keeps
 * its serial and gets a new seed, and its device counts from 0 again: started at the deleted seed's counter
 * (say 500), none of its codes matched within the look-ahead, `token resync` searched forward from 500 too,
 * and the token was unusable until pressed ~500 times. The old seed's spent codes are not the new seed's
 * codes: nothing of RFC 4226 §7.2 is given up by starting the new seed at its own counter.
 *
 * Same seed or new is told by `token.seed_fingerprint`, which the app computes when it creates a token
 * (KeyRing.fingerprint: the key's id, then an HMAC-SHA256 of the seed under a key derived from it). A
 * deleted token leaves its fingerprint and its replay state in token_retired_seed, one row per seed the
 * serial has had, so A, then B, then A's file again (by mistake) finds A's used codes still used.
 * token_retired keeps the furthest state of every life, as before, and whether every life's seed was known.
 *
 * Unknown stays safe (the deleted state is kept, as since 0009): a token without a fingerprint (inserted
 * before this migration, or by an older node during a rolling upgrade), a serial one of whose lives had
 * none, or fingerprints under another key (made before a `keys rotate`) that cannot be compared. Re-importing
 * a seed with its counter reset would otherwise re-open every code it ever showed (RFC 4226 §7.2).
 *
 * Additive: new nullable column and a new table; the 0009 functions are replaced by ones that do what they
 * did for every row an older node writes (no fingerprint: unknown, state kept).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE token ADD COLUMN seed_fingerprint bytea;
    -- rows retired before this migration: their seeds are unknown
    ALTER TABLE token_retired ADD COLUMN seeds_known boolean NOT NULL DEFAULT false;

    CREATE TABLE token_retired_seed (
      serial           text NOT NULL,
      seed_fingerprint bytea NOT NULL,
      last_step        bigint NOT NULL,
      next_counter     bigint NOT NULL,
      retired_at       timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (serial, seed_fingerprint)
    );

    CREATE OR REPLACE FUNCTION radotp_token_retire() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.state <> 'pending' THEN
        INSERT INTO token_retired AS r (serial, last_step, next_counter, seeds_known)
          VALUES (OLD.serial, OLD.last_step, OLD.next_counter, OLD.seed_fingerprint IS NOT NULL)
        ON CONFLICT (serial) DO UPDATE SET
          last_step = greatest(r.last_step, excluded.last_step),
          next_counter = greatest(r.next_counter, excluded.next_counter),
          seeds_known = r.seeds_known AND excluded.seeds_known,
          retired_at = now();
        IF OLD.seed_fingerprint IS NOT NULL THEN
          INSERT INTO token_retired_seed AS r (serial, seed_fingerprint, last_step, next_counter)
            VALUES (OLD.serial, OLD.seed_fingerprint, OLD.last_step, OLD.next_counter)
          ON CONFLICT (serial, seed_fingerprint) DO UPDATE SET
            last_step = greatest(r.last_step, excluded.last_step),
            next_counter = greatest(r.next_counter, excluded.next_counter),
            retired_at = now();
        END IF;
      END IF;
      RETURN OLD;
    END $$;

    -- The replay state a token with this serial and seed fingerprint must start at or beyond; NULLs when
    -- none (the serial was never deleted, or comes back with a seed it never had). Also what \`token import\`
    -- reports per serial, so the report and the trigger cannot disagree.
    CREATE FUNCTION radotp_retired_replay_state(p_serial text, p_fingerprint bytea, OUT o_last_step bigint, OUT o_next_counter bigint)
      LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      r token_retired%ROWTYPE;
      s token_retired_seed%ROWTYPE;
    BEGIN
      SELECT * INTO r FROM token_retired t WHERE t.serial = p_serial;
      IF NOT FOUND THEN RETURN; END IF;
      -- Comparable only when every earlier seed's fingerprint is under the same key as this one. Trusting a
      -- same-seed match while another life's fingerprint is under another key would let a node still sealing
      -- with the old key (a rotation being rolled out) re-import that seed at an old life's counter, past
      -- which the same seed had been used further after the rotation: those codes would be accepted again.
      IF p_fingerprint IS NOT NULL AND r.seeds_known AND NOT EXISTS (
           SELECT 1 FROM token_retired_seed t WHERE t.serial = p_serial
             AND substring(t.seed_fingerprint FROM 1 FOR 8) <> substring(p_fingerprint FROM 1 FOR 8)) THEN
        SELECT * INTO s FROM token_retired_seed t WHERE t.serial = p_serial AND t.seed_fingerprint = p_fingerprint;
        IF FOUND THEN
          -- this seed lived under the serial before: its own state (beyond any state it resumed then)
          o_last_step := s.last_step;
          o_next_counter := s.next_counter;
        END IF;
        -- else none is this one: a new seed (NULLs)
        RETURN;
      END IF;
      -- unknown: the furthest state of every life of the serial
      o_last_step := r.last_step;
      o_next_counter := r.next_counter;
    END $$;

    -- As in 0009: wait for an uncommitted delete of this serial first, then read in a new snapshot.
    CREATE OR REPLACE FUNCTION radotp_token_resume_replay_state() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE st record;
    BEGIN
      PERFORM 1 FROM token WHERE serial = NEW.serial FOR KEY SHARE;
      SELECT * INTO st FROM radotp_retired_replay_state(NEW.serial, NEW.seed_fingerprint);
      IF st.o_next_counter IS NOT NULL THEN
        NEW.last_step := greatest(NEW.last_step, st.o_last_step);
        NEW.next_counter := greatest(NEW.next_counter, st.o_next_counter);
      END IF;
      RETURN NEW;
    END $$;`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // back to 0009's functions (their bodies as 0009 created them), then drop what this added
  await sql`
    CREATE OR REPLACE FUNCTION radotp_token_retire() RETURNS trigger LANGUAGE plpgsql AS $$
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

    CREATE OR REPLACE FUNCTION radotp_token_resume_replay_state() RETURNS trigger LANGUAGE plpgsql AS $$
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

    DROP FUNCTION radotp_retired_replay_state(text, bytea);
    DROP TABLE token_retired_seed;
    ALTER TABLE token_retired DROP COLUMN seeds_known;
    ALTER TABLE token DROP COLUMN seed_fingerprint;`.execute(db);
}
