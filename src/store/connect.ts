import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

// int8 (20) as bigint: counters and time steps must not lose precision or come back as strings.
pg.types.setTypeParser(20, (v) => BigInt(v));

export type Db = Kysely<Database>;

export interface Connection {
  readonly db: Db;
  readonly pool: pg.Pool;
  /** For the audit trail only: commits do not wait for the WAL flush (see below). */
  readonly auditPool: pg.Pool;
  close(): Promise<void>;
}

export function connect(url: string, opts: { poolSize?: number; onError?: (e: Error) => void; applicationName?: string } = {}): Connection {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    // Fail fast when the database is away: the NAS fails over to another server sooner than we could recover.
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30000,
    application_name: opts.applicationName ?? 'radotp',
  });
  /*
   * The audit trail is written behind the replies in batches (AuditWriter), so a crash of radotp can
   * already lose its last batch; its commits need not also wait for PostgreSQL to flush the WAL. Every
   * spend of a code still commits synchronously, and its flush carries the audit rows written before it.
   * What this saves is a flush per audit batch that the spends (whose replies wait for theirs) would
   * otherwise queue behind: measured, about a third of a spend's round trip under load.
   */
  const auditPool = new pg.Pool({
    connectionString: url,
    max: 2,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30000,
    application_name: `${opts.applicationName ?? 'radotp'} audit`,
    options: '-c synchronous_commit=off',
  });
  // An idle client losing its server (database restart) emits 'error' on the pool; unhandled, it would crash the process.
  pool.on('error', (e) => opts.onError?.(e));
  auditPool.on('error', (e) => opts.onError?.(e));
  /*
   * A client in use has no such listener: pg-pool listens for 'error' only while a client is idle, and pg,
   * when the connection breaks under a query (a reset, not an error message from the server), fails the
   * query AND emits 'error' on the client. Unheard, that event ended the process. The query's caller
   * already gets the error (the decision becomes `fail`), and the pool drops the broken client when it
   * comes back, so this listener only has to be there.
   */
  for (const p of [pool, auditPool]) p.on('connect', (client) => client.on('error', ignoreInUseClientError));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;
  return {
    db,
    pool,
    auditPool,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([db.destroy(), auditPool.end()]);
    },
  };
}

function ignoreInUseClientError(): void {}

/** The SQLSTATE of an error PostgreSQL itself sent (e.g. 53100 disk full); undefined for a lost connection. */
export function postgresSqlstate(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[0-9][0-9A-Z]{4}$/.test(code) ? code : undefined;
}

/** Errors that mean "the database is not answering" rather than "the query is wrong". */
export function isDatabaseUnavailable(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  if (!err) return false;
  if (typeof err.code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'].includes(err.code)) return true;
    // SQLSTATE class 08 (connection exception), 57P (operator intervention: shutdown), 53 (insufficient resources)
    if (/^(08|57P|53)/.test(err.code)) return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(err.message ?? '');
}
