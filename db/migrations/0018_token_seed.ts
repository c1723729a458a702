import { Kysely, sql } from 'kysely';

/**
 * The sealed seed moves out of the token row into a table of its own, which a login's spend never touches.
 *
 * `radotp keys rotate` re-seals every seed in ONE transaction (all or nothing). With the seed in the token row,
 * it held every re-sealed token row locked until its commit, and a login's spend (the guarded UPDATE of the
 * same row: last_step, drift...) waited for that lock: measured at 100 000 tokens, a rotation of 7.7 s and a
 * spend that waited 7.5 s, past database.queryTimeout, failing the login and every spend batched with it.
 * PostgreSQL locks rows, not columns ("FOR UPDATE causes the rows retrieved by the SELECT statement to be
 * locked as though for update", Explicit Locking, Row-Level Locks), so only a separate row can keep the
 * two apart: now the rotation writes token_seed rows, a spend writes token rows.
 *
 * What moves: the sealed seed, and its fingerprint (0012), which a rotation makes again under the new key.
 *
 * NOT additive, the one exception to db/index.ts: an older radotp reads and writes token.seed_sealed, which this
 * drops. Keeping the column for older nodes would leave a copy of every seed under the old key after a
 * rotation (the very key being retired) or put the token rows back under the rotation's locks. Upgrade every
 * node before a node of this release migrates (README: Upgrading a cluster); an older node meeting this schema finds
 * no seed in the token row, and its token logins, enrollments and imports fail.
 *
 * The triggers of 0002/0005/0009/0012 that read the moved columns are replaced by ones that read token_seed:
 * - the admin-change NOTIFY (0005) no longer watches seed_sealed; an UPDATE of a token_seed row's seed notifies
 *   the token's user instead, unless a key rotation makes it (radotp.rekeying, set by rekeyAll for its own
 *   transaction): a rotation leaves every seed as it was, and nodes hold both keys during the roll-out, so no
 *   node's cache is stale. It used to send one NOTIFY per token, and every node dropped its whole login cache.
 * - a deleted token's replay state (0009, 0012) is kept BEFORE the delete: the ON DELETE CASCADE of token_seed
 *   runs as an AFTER trigger that fires first (triggers fire "in alphabetical order by trigger name", CREATE
 *   TRIGGER; PostgreSQL's RI_ConstraintTrigger_* sorts before ours), and would have taken the fingerprint away.
 * - a token inserted under a deleted serial resumes its replay state when its seed row is inserted (AFTER INSERT
 *   on token_seed), the fingerprint's first moment in the database; the token row's insert has by then waited on
 *   the serial's unique index for an uncommitted delete of the same serial, and the function reads token_retired
 *   in a snapshot of its own (VOLATILE), so it sees what that delete kept.
 *
 * Token is locked (ACCESS EXCLUSIVE) from the start: a seed written by another session between the copy and the
 * drop would be lost. Logins wait for this migration's commit: measured 0.6 s at 100 000 tokens
 * (test/store/token-seed-upgrade.test.ts, RADOTP_REKEY_SITE_TOKENS=100000).
 */
const WATCHED = `updated_at, locked_until, user_id, state, kind, algorithm, digits, period, t0, ocra_suite, valid_from, valid_to`;

const WHEN = `
  OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.locked_until IS DISTINCT FROM NEW.locked_until OR
  OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.state IS DISTINCT FROM NEW.state OR
  OLD.kind IS DISTINCT FROM NEW.kind OR
  OLD.algorithm IS DISTINCT FROM NEW.algorithm OR OLD.digits IS DISTINCT FROM NEW.digits OR
  OLD.period IS DISTINCT FROM NEW.period OR OLD.t0 IS DISTINCT FROM NEW.t0 OR
  OLD.ocra_suite IS DISTINCT FROM NEW.ocra_suite OR
  OLD.valid_from IS DISTINCT FROM NEW.valid_from OR OLD.valid_to IS DISTINCT FROM NEW.valid_to`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`
    LOCK TABLE token IN ACCESS EXCLUSIVE MODE;

    CREATE TABLE token_seed (
      token_id         bigint PRIMARY KEY REFERENCES token(id) ON DELETE CASCADE,
      seed_sealed      bytea NOT NULL,
      seed_fingerprint bytea
    );
    INSERT INTO token_seed (token_id, seed_sealed, seed_fingerprint) SELECT id, seed_sealed, seed_fingerprint FROM token;

    DROP TRIGGER token_changed ON token;
    CREATE TRIGGER token_changed AFTER UPDATE OF ${WATCHED} ON token
      FOR EACH ROW WHEN (${WHEN})
      EXECUTE FUNCTION radotp_notify_token();

    CREATE FUNCTION radotp_notify_token_seed() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE owner bigint;
    BEGIN
      SELECT user_id INTO owner FROM token WHERE id = NEW.token_id;
      IF owner IS NOT NULL THEN PERFORM pg_notify('radotp_changes', 'tokens:' || owner); END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER token_seed_changed AFTER UPDATE OF seed_sealed ON token_seed
      FOR EACH ROW WHEN (OLD.seed_sealed IS DISTINCT FROM NEW.seed_sealed AND current_setting('radotp.rekeying', true) IS DISTINCT FROM 'on')
      EXECUTE FUNCTION radotp_notify_token_seed();

    DROP TRIGGER token_retired_keeps_replay_state ON token;
    CREATE OR REPLACE FUNCTION radotp_token_retire() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE fingerprint bytea;
    BEGIN
      IF OLD.state <> 'pending' THEN
        SELECT s.seed_fingerprint INTO fingerprint FROM token_seed s WHERE s.token_id = OLD.id;
        INSERT INTO token_retired AS r (serial, last_step, next_counter, seeds_known)
          VALUES (OLD.serial, OLD.last_step, OLD.next_counter, fingerprint IS NOT NULL)
        ON CONFLICT (serial) DO UPDATE SET
          last_step = greatest(r.last_step, excluded.last_step),
          next_counter = greatest(r.next_counter, excluded.next_counter),
          seeds_known = r.seeds_known AND excluded.seeds_known,
          retired_at = now();
        IF fingerprint IS NOT NULL THEN
          INSERT INTO token_retired_seed AS r (serial, seed_fingerprint, last_step, next_counter)
            VALUES (OLD.serial, fingerprint, OLD.last_step, OLD.next_counter)
          ON CONFLICT (serial, seed_fingerprint) DO UPDATE SET
            last_step = greatest(r.last_step, excluded.last_step),
            next_counter = greatest(r.next_counter, excluded.next_counter),
            retired_at = now();
        END IF;
      END IF;
      RETURN OLD;
    END $$;
    CREATE TRIGGER token_retired_keeps_replay_state BEFORE DELETE ON token
      FOR EACH ROW EXECUTE FUNCTION radotp_token_retire();

    DROP TRIGGER token_resumes_replay_state ON token;
    DROP FUNCTION radotp_token_resume_replay_state();
    CREATE FUNCTION radotp_token_seed_resume_replay_state() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE st record;
    BEGIN
      SELECT r.* INTO st FROM token t, radotp_retired_replay_state(t.serial, NEW.seed_fingerprint) r WHERE t.id = NEW.token_id;
      IF st.o_next_counter IS NOT NULL THEN
        UPDATE token SET last_step = greatest(last_step, st.o_last_step), next_counter = greatest(next_counter, st.o_next_counter)
          WHERE id = NEW.token_id;
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER token_seed_resumes_replay_state AFTER INSERT ON token_seed
      FOR EACH ROW EXECUTE FUNCTION radotp_token_seed_resume_replay_state();

    ALTER TABLE token DROP COLUMN seed_sealed, DROP COLUMN seed_fingerprint;
  `).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // back to 0012's columns, functions and triggers (their bodies as 0012 and 0005 made them)
  await sql.raw(`
    LOCK TABLE token IN ACCESS EXCLUSIVE MODE;
    ALTER TABLE token ADD COLUMN seed_sealed bytea, ADD COLUMN seed_fingerprint bytea;
    UPDATE token SET seed_sealed = s.seed_sealed, seed_fingerprint = s.seed_fingerprint FROM token_seed s WHERE s.token_id = token.id;
    ALTER TABLE token ALTER COLUMN seed_sealed SET NOT NULL;

    DROP TRIGGER token_seed_resumes_replay_state ON token_seed;
    DROP FUNCTION radotp_token_seed_resume_replay_state();
    CREATE FUNCTION radotp_token_resume_replay_state() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE st record;
    BEGIN
      PERFORM 1 FROM token WHERE serial = NEW.serial FOR KEY SHARE;
      SELECT * INTO st FROM radotp_retired_replay_state(NEW.serial, NEW.seed_fingerprint);
      IF st.o_next_counter IS NOT NULL THEN
        NEW.last_step := greatest(NEW.last_step, st.o_last_step);
        NEW.next_counter := greatest(NEW.next_counter, st.o_next_counter);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER token_resumes_replay_state BEFORE INSERT ON token
      FOR EACH ROW EXECUTE FUNCTION radotp_token_resume_replay_state();

    DROP TRIGGER token_retired_keeps_replay_state ON token;
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
    CREATE TRIGGER token_retired_keeps_replay_state AFTER DELETE ON token
      FOR EACH ROW EXECUTE FUNCTION radotp_token_retire();

    DROP TRIGGER token_seed_changed ON token_seed;
    DROP FUNCTION radotp_notify_token_seed();
    DROP TRIGGER token_changed ON token;
    CREATE TRIGGER token_changed AFTER UPDATE OF ${WATCHED}, seed_sealed ON token
      FOR EACH ROW WHEN (${WHEN} OR OLD.seed_sealed IS DISTINCT FROM NEW.seed_sealed)
      EXECUTE FUNCTION radotp_notify_token();

    DROP TABLE token_seed;
  `).execute(db);
}
