import { Kysely, sql } from 'kysely';

/**
 * The sealed seed gets a table of its own, which a login's spend never touches; the token row keeps a copy of it for
 * the releases before this one.
 *
 * `radotp keys rotate` re-seals every seed in ONE transaction (all or nothing). With the seed only in the token
 * row, it held every re-sealed token row locked until its commit, and a login's spend (the guarded UPDATE of the
 * same row: last_step, drift...) waited for that lock: measured at 100 000 tokens, a rotation of 7.7 s and a
 * spend that waited 7.5 s, past database.queryTimeout, failing the login and every spend batched with it.
 * PostgreSQL locks rows, not columns ("FOR UPDATE causes the rows retrieved by the SELECT statement to be
 * locked as though for update", Explicit Locking, Row-Level Locks), so only a separate row can keep the
 * two apart: now the rotation writes token_seed rows, a spend writes token rows.
 *
 * Additive (db/index.ts): during a rolling upgrade nodes of the release before keep serving from this schema, and
 * they read and write token.seed_sealed and token.seed_fingerprint. Those stay, NOT NULL as before, as a legacy
 * copy; a later release, once no node before this one can be running, stops writing them and drops them.
 * - Readers of this release read token_seed (the login cache, verify, activate, resync, OCRA).
 * - Writers, of every release, write the token row as before. The triggers token_seed_on_insert and
 *   token_seed_on_update copy what they wrote into token_seed in the same transaction, so an older node's
 *   enrollment or import reaches this release's readers, and both copies agree after every writer's commit. WHY
 *   this release's writers do not write token_seed themselves: one path for every release, so the two copies
 *   cannot disagree by a writer forgetting one.
 * - `keys rotate` (rekeyAll) re-seals token_seed only, in its one transaction, holding no token row; then
 *   copyLegacySeeds (src/store/legacy-seed-copy.ts) brings the token rows' copies to it in chunks of short
 *   transactions, so no seed stays under the retired key and a login waits milliseconds at most. Both set
 *   radotp.rekeying for their statements: the copy back into token_seed (token_seed_on_update) and the change
 *   NOTIFY are skipped for them (a rotation changes no seed; the nodes' caches hold the seeds opened, and nodes hold
 *   both keys during a roll-out). The NOTIFY used to be one per token, and every node dropped its whole login cache.
 *
 * The triggers of 0005, 0009 and 0012 keep reading the token row's columns, which stay, and are kept as they were,
 * but for the admin-change NOTIFY (0005), which is replaced by one that does what it did save for a seed change made
 * under radotp.rekeying (no release before this one sets it). So a token deleted between a rotation's commit and
 * the copy of its row (or after an interrupted copy) keeps the fingerprint of the old key: unknown, the safe side
 * (its used codes stay used, as for a token deleted before a rotation, 0012).
 *
 * token_seed is written by these triggers and by rekeyAll only. A hand edit of token_seed alone is not copied back
 * to the token row (older nodes would not see it) nor notified; the next `keys rotate` copies it over. Edit the
 * token row, as every writer does.
 *
 * Token is locked (ACCESS EXCLUSIVE) from the start: a seed written by another session between the copy and the
 * triggers' creation would not reach token_seed. Logins wait for this migration's commit: measured 0.6 s at 100 000
 * tokens (test/store/token-seed-site.measure.ts).
 */
/** As 0005 made token_changed: the columns and the condition of an admin's change. */
const WATCHED = `updated_at, locked_until, user_id, state, seed_sealed, kind, algorithm, digits, period, t0, ocra_suite, valid_from, valid_to`;

const WHEN_NOT_SEED = `
  OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.locked_until IS DISTINCT FROM NEW.locked_until OR
  OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.state IS DISTINCT FROM NEW.state OR
  OLD.kind IS DISTINCT FROM NEW.kind OR
  OLD.algorithm IS DISTINCT FROM NEW.algorithm OR OLD.digits IS DISTINCT FROM NEW.digits OR
  OLD.period IS DISTINCT FROM NEW.period OR OLD.t0 IS DISTINCT FROM NEW.t0 OR
  OLD.ocra_suite IS DISTINCT FROM NEW.ocra_suite OR
  OLD.valid_from IS DISTINCT FROM NEW.valid_from OR OLD.valid_to IS DISTINCT FROM NEW.valid_to`;
const SEED_CHANGED = `OLD.seed_sealed IS DISTINCT FROM NEW.seed_sealed`;
const NOT_REKEYING = `current_setting('radotp.rekeying', true) IS DISTINCT FROM 'on'`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`
    LOCK TABLE token IN ACCESS EXCLUSIVE MODE;

    CREATE TABLE token_seed (
      token_id         bigint PRIMARY KEY REFERENCES token(id) ON DELETE CASCADE,
      seed_sealed      bytea NOT NULL,
      seed_fingerprint bytea
    );
    INSERT INTO token_seed (token_id, seed_sealed, seed_fingerprint) SELECT id, seed_sealed, seed_fingerprint FROM token;

    CREATE FUNCTION radotp_token_seed_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO token_seed AS s (token_id, seed_sealed, seed_fingerprint) VALUES (NEW.id, NEW.seed_sealed, NEW.seed_fingerprint)
      ON CONFLICT (token_id) DO UPDATE SET seed_sealed = excluded.seed_sealed, seed_fingerprint = excluded.seed_fingerprint;
      RETURN NULL;
    END $$;
    CREATE TRIGGER token_seed_on_insert AFTER INSERT ON token
      FOR EACH ROW EXECUTE FUNCTION radotp_token_seed_copy();
    CREATE TRIGGER token_seed_on_update AFTER UPDATE OF seed_sealed, seed_fingerprint ON token
      FOR EACH ROW WHEN ((OLD.seed_sealed, OLD.seed_fingerprint) IS DISTINCT FROM (NEW.seed_sealed, NEW.seed_fingerprint) AND ${NOT_REKEYING})
      EXECUTE FUNCTION radotp_token_seed_copy();

    DROP TRIGGER token_changed ON token;
    CREATE TRIGGER token_changed AFTER UPDATE OF ${WATCHED} ON token
      FOR EACH ROW WHEN (${WHEN_NOT_SEED} OR (${SEED_CHANGED} AND ${NOT_REKEYING}))
      EXECUTE FUNCTION radotp_notify_token();
  `).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // back to 0005's token_changed; the token rows get what token_seed holds (a legacy copy a rotation's copy
  // did not reach yet), then token_seed goes
  await sql.raw(`
    LOCK TABLE token IN ACCESS EXCLUSIVE MODE;
    UPDATE token t SET seed_sealed = s.seed_sealed, seed_fingerprint = s.seed_fingerprint FROM token_seed s
      WHERE s.token_id = t.id AND (t.seed_sealed, t.seed_fingerprint) IS DISTINCT FROM (s.seed_sealed, s.seed_fingerprint);
    DROP TRIGGER token_changed ON token;
    CREATE TRIGGER token_changed AFTER UPDATE OF ${WATCHED} ON token
      FOR EACH ROW WHEN (${WHEN_NOT_SEED} OR ${SEED_CHANGED})
      EXECUTE FUNCTION radotp_notify_token();
    DROP TRIGGER token_seed_on_update ON token;
    DROP TRIGGER token_seed_on_insert ON token;
    DROP FUNCTION radotp_token_seed_copy();
    DROP TABLE token_seed;
  `).execute(db);
}
