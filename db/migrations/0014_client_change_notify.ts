import { Kysely, sql } from 'kysely';

/**
 * Change notifications for the servers' RADIUS client tables, on the channel users and tokens use (0002):
 * any change to radius_client, by the CLI or plain SQL, sends `clients`, and every node reloads its table on
 * hearing it. Before, nodes only polled every radius.clientRefresh (10 s), so a new NAS was dropped as an
 * unknown client, a re-keyed one dropped and a removed one still answered for up to that long.
 *
 * One notification per statement (and PostgreSQL folds identical ones of a transaction into one): a node
 * reloads the whole table anyway, so the rows are not named. Nothing secret is in the payload. TRUNCATE is
 * included, as it fires no row trigger. Older nodes ignore a payload they do not know and keep polling.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION radotp_notify_clients() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('radotp_changes', 'clients');
      RETURN NULL;
    END $$;
    CREATE TRIGGER radius_client_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON radius_client
      FOR EACH STATEMENT EXECUTE FUNCTION radotp_notify_clients();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER radius_client_changed ON radius_client; DROP FUNCTION radotp_notify_clients();`.execute(db);
}
