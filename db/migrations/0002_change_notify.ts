import { Kysely, sql } from 'kysely';

/**
 * Change notifications for the servers' in-memory caches of users and tokens. Every node LISTENs on
 * `radotp_changes`; a change made by any node or CLI invalidates the affected user's entries everywhere.
 * Replay state (last step, counter, drift) is deliberately not notified: it changes on every login, and
 * the atomic UPDATE in PostgreSQL, not the cache, is what decides whether a code is spent.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION radotp_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' THEN PERFORM pg_notify('radotp_changes', 'user:' || OLD.username); END IF;
      IF TG_OP <> 'DELETE' THEN PERFORM pg_notify('radotp_changes', 'user:' || NEW.username); END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER app_user_changed AFTER INSERT OR UPDATE OR DELETE ON app_user
      FOR EACH ROW EXECUTE FUNCTION radotp_notify_user();

    CREATE FUNCTION radotp_notify_token() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'INSERT' AND OLD.user_id IS NOT NULL THEN PERFORM pg_notify('radotp_changes', 'tokens:' || OLD.user_id); END IF;
      IF TG_OP <> 'DELETE' AND NEW.user_id IS NOT NULL THEN PERFORM pg_notify('radotp_changes', 'tokens:' || NEW.user_id); END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER token_added_or_removed AFTER INSERT OR DELETE ON token
      FOR EACH ROW EXECUTE FUNCTION radotp_notify_token();
    -- Admin changes (assign, disable, resync...) bump updated_at; logins and failures do not, except
    -- when they lock or unlock the token. The columns a login never writes are listed too, so an edit
    -- made with plain SQL is noticed as well.
    CREATE TRIGGER token_changed AFTER UPDATE ON token
      FOR EACH ROW WHEN (
        OLD.updated_at IS DISTINCT FROM NEW.updated_at OR OLD.locked_until IS DISTINCT FROM NEW.locked_until OR
        OLD.user_id IS DISTINCT FROM NEW.user_id OR OLD.state IS DISTINCT FROM NEW.state OR
        OLD.seed_sealed IS DISTINCT FROM NEW.seed_sealed OR OLD.kind IS DISTINCT FROM NEW.kind OR
        OLD.algorithm IS DISTINCT FROM NEW.algorithm OR OLD.digits IS DISTINCT FROM NEW.digits OR
        OLD.period IS DISTINCT FROM NEW.period OR OLD.t0 IS DISTINCT FROM NEW.t0 OR
        OLD.ocra_suite IS DISTINCT FROM NEW.ocra_suite OR
        OLD.valid_from IS DISTINCT FROM NEW.valid_from OR OLD.valid_to IS DISTINCT FROM NEW.valid_to)
      EXECUTE FUNCTION radotp_notify_token();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TRIGGER token_changed ON token; DROP TRIGGER token_added_or_removed ON token; DROP TRIGGER app_user_changed ON app_user;
    DROP FUNCTION radotp_notify_token(); DROP FUNCTION radotp_notify_user();`.execute(db);
}
