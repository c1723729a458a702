import crypto from 'node:crypto';
import pg from 'pg';

export class SessionPoolingError extends Error {
  override name = 'SessionPoolingError';
}

/**
 * Refuses a database URL behind which a connection is not a session of its own: a connection pooler in
 * transaction or statement mode (PgBouncer's `pool_mode = transaction`), which hands each transaction to
 * whichever server connection is free. There, a LISTEN stays behind on the server connection that ran it,
 * so the change listener hears nothing while reporting itself live, and every node would trust caches that
 * other nodes' changes (a user removed, a token disabled) never reach; and a named prepared statement
 * (the login path's spend) is prepared on one server connection and run on another ("prepared statement
 * ... does not exist"), failing logins; and the migrations' session-level advisory lock (kysely's) may be
 * released on another server connection than the one that took it, staying held and blocking every later
 * migration and start. Asked directly, as the listener would be: a notification sent through the URL must
 * reach a connection LISTENing through it. Against PostgreSQL (or PgBouncer in session mode) it
 * arrives within milliseconds; `waitMs` is only spent when it does not.
 *
 * A database that cannot be reached is not judged here: the caller's own connection reports that as usual.
 */
export async function refuseTransactionPooling(url: string, where: string, waitMs = 3000): Promise<void> {
  const channel = `radotp_check_${crypto.randomBytes(8).toString('hex')}`;
  const client = () => new pg.Client({ connectionString: url, application_name: 'radotp-check', connectionTimeoutMillis: 3000, query_timeout: 10_000 });
  const listener = client();
  const sender = client();
  for (const c of [listener, sender]) c.on('error', () => {}); // a lost connection fails the query in progress
  let timer: NodeJS.Timeout | undefined;
  const heard = new Promise<boolean>((resolve) => {
    listener.on('notification', (n) => n.channel === channel && resolve(true));
    timer = setTimeout(() => resolve(false), waitMs);
    timer.unref();
  });
  try {
    try {
      await listener.connect();
      await listener.query(`LISTEN ${channel}`);
      await sender.connect();
      await sender.query(`NOTIFY ${channel}`);
    } catch {
      return;
    }
    if (await heard) return;
    throw new SessionPoolingError(
      `${where}: a notification sent through it never reached a connection listening through it, as behind PgBouncer in ` +
        'transaction or statement mode; radotp needs session mode (LISTEN/NOTIFY keeps every node\'s caches current; the ' +
        "login path's prepared statements and the migrations' lock stay on their connection): set pool_mode = session for this database in pgbouncer.ini, " +
        'or point database.url at PostgreSQL',
    );
  } finally {
    clearTimeout(timer);
    await Promise.all([listener.end().catch(() => {}), sender.end().catch(() => {})]);
  }
}
