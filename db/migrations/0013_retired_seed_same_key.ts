import { Kysely, sql } from 'kysely';

/**
 * 0012's radotp_retired_replay_state trusted a deleted life with the same seed fingerprint even when another
 * life of the serial had its fingerprint under another key, i.e. the same seed used further after a rotation
 * (fingerprints under two keys cannot be compared). A node or CLI still sealing with the old key (a rotation
 * being rolled out, README "Key rotation") then re-imported that seed at the old life's counter: the codes the
 * later life used were accepted again (RFC 4226 §7.2). Now the own state of the same seed is resumed, and a
 * new seed starts at its file's counter, only when every deleted life's fingerprint is under the inserting
 * key; otherwise it is unknown, and the furthest state of every life is kept, as 0012 documents.
 * Only the function changes (the triggers call it by name).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION radotp_retired_replay_state(p_serial text, p_fingerprint bytea, OUT o_last_step bigint, OUT o_next_counter bigint)
      LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      r token_retired%ROWTYPE;
      s token_retired_seed%ROWTYPE;
    BEGIN
      SELECT * INTO r FROM token_retired t WHERE t.serial = p_serial;
      IF NOT FOUND THEN RETURN; END IF;
      -- comparable only when every earlier seed's fingerprint is under the same key as this one
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
    END $$;`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // 0012's body
  await sql`
    CREATE OR REPLACE FUNCTION radotp_retired_replay_state(p_serial text, p_fingerprint bytea, OUT o_last_step bigint, OUT o_next_counter bigint)
      LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
      r token_retired%ROWTYPE;
      s token_retired_seed%ROWTYPE;
    BEGIN
      SELECT * INTO r FROM token_retired t WHERE t.serial = p_serial;
      IF NOT FOUND THEN RETURN; END IF;
      IF p_fingerprint IS NOT NULL AND r.seeds_known THEN
        SELECT * INTO s FROM token_retired_seed t WHERE t.serial = p_serial AND t.seed_fingerprint = p_fingerprint;
        IF FOUND THEN
          o_last_step := s.last_step;
          o_next_counter := s.next_counter;
          RETURN;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM token_retired_seed t WHERE t.serial = p_serial
                       AND substring(t.seed_fingerprint FROM 1 FOR 8) <> substring(p_fingerprint FROM 1 FOR 8)) THEN
          RETURN;
        END IF;
      END IF;
      o_last_step := r.last_step;
      o_next_counter := r.next_counter;
    END $$;`.execute(db);
}
