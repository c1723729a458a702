import { Kysely, sql } from 'kysely';

/**
 * The admin-change trigger on `token` (0002) was an AFTER UPDATE trigger with a WHEN clause, so every
 * accepted code paid for evaluating thirteen comparisons of old and new row, only to find that nothing
 * an admin edits had changed. Measured on 30-row spend batches: about a quarter of PostgreSQL's time
 * per row. Naming the columns makes PostgreSQL skip the trigger for any UPDATE whose SET list names
 * none of them ("UPDATE OF column_name: the trigger will only fire if at least one of the listed
 * columns is mentioned as a target of the UPDATE command", CREATE TRIGGER). A spend sets only replay
 * state (last step, drift, counter, failure count, last use), so it no longer fires it; an admin
 * change, a lockout, an unlock, or a plain-SQL edit of any listed column still does, and the WHEN
 * clause still keeps a no-op edit quiet.
 */
const WATCHED = `updated_at, locked_until, user_id, state, seed_sealed, kind, algorithm, digits, period, t0, ocra_suite, valid_from, valid_to`;

const WHEN = `
  OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.locked_until IS DISTINCT FROM NEW.locked_until OR
  OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.state IS DISTINCT FROM NEW.state OR
  OLD.seed_sealed IS DISTINCT FROM NEW.seed_sealed OR OLD.kind IS DISTINCT FROM NEW.kind OR
  OLD.algorithm IS DISTINCT FROM NEW.algorithm OR OLD.digits IS DISTINCT FROM NEW.digits OR
  OLD.period IS DISTINCT FROM NEW.period OR OLD.t0 IS DISTINCT FROM NEW.t0 OR
  OLD.ocra_suite IS DISTINCT FROM NEW.ocra_suite OR
  OLD.valid_from IS DISTINCT FROM NEW.valid_from OR OLD.valid_to IS DISTINCT FROM NEW.valid_to`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`
    DROP TRIGGER token_changed ON token;
    CREATE TRIGGER token_changed AFTER UPDATE OF ${WATCHED} ON token
      FOR EACH ROW WHEN (${WHEN})
      EXECUTE FUNCTION radotp_notify_token();
  `).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw(`
    DROP TRIGGER token_changed ON token;
    CREATE TRIGGER token_changed AFTER UPDATE ON token
      FOR EACH ROW WHEN (${WHEN})
      EXECUTE FUNCTION radotp_notify_token();
  `).execute(db);
}
