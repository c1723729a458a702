import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely';
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
  /** For answers to challenges only: each holds a connection while it is decided (see ChallengeRepository.take). */
  readonly challengePool: pg.Pool;
  /** For the batched spends of codes only: a row lock is waited for at most SPEND_LOCK_WAIT_MS (see below). */
  readonly spendPool: pg.Pool;
  close(): Promise<void>;
}

export interface ConnectOptions {
  poolSize?: number;
  /** An idle pooled connection broke (the database stopped or restarted, a network reset). */
  onError?: (e: Error) => void;
  /** A pool opened a new connection, set up and ready for use (after onError: the database answers again). */
  onConnect?: () => void;
  applicationName?: string;
  /**
   * A statement with no answer after this long fails ("Query read timeout") and its connection is closed
   * instead of going back to the pool. Without it, a database host gone without a reset (a network
   * partition, a virtual IP moved to a standby) holds every connection that was in use until the kernel
   * gives up retransmitting, about 15 minutes: the pool is exhausted, and logins keep failing long after
   * the database is reachable again. Unset (the CLI): statements may run as long as they need.
   */
  queryTimeoutMs?: number;
}

/*
 * TCP keepalive on every connection (the change listener's too): an idle pooled connection to a host that
 * went away (no reset) is found dead by a probe and dropped by the pool, instead of failing the login that
 * picks it up next.
 */
export const KEEPALIVE = { keepAlive: true, keepAliveInitialDelayMillis: 10_000 } as const;

/**
 * How long a statement waits for a connection: to open a new one (fail fast when the database is away: the NAS
 * fails over to another server sooner than we could recover), or for one of a full pool to come free.
 */
export const CONNECTION_WAIT_MS = 3000;

/** pg-pool's error for a wait for a pooled connection that ran out (see WaitTellingPool). */
const POOL_WAIT_TIMEOUT = 'timeout exceeded when trying to connect';
/** Ours, for a wait that ran out while every connection of the pool was still being opened. */
const OPENING_WAIT_TIMEOUT = 'could not open a database connection in time: every connection of the pool was still being opened';

/**
 * pg-pool fails a wait for a connection as "timeout exceeded when trying to connect" both when every connection
 * of a full pool stayed busy (database.poolSize too small, statements held up) and when every one was still
 * being opened: a database host gone without a reset (a partition, a black-holed address) or a server that
 * accepts and never answers, where each opening itself runs out the same 3 s. Logins queued behind those
 * openings were told as database_pool_exhausted, with a warning to raise database.poolSize, through an outage.
 * Told apart here, where the pool's connections can be seen (pg-pool's `_clients`, pg's `_connected`: should
 * either go away in a later version, this falls back to pg-pool's error as it is).
 */
class WaitTellingPool extends pg.Pool {
  /** Connections opened before this round are closed at their next checkout (see renew). */
  private round = 0;
  private readonly openedIn = new WeakMap<pg.PoolClient, number>();

  constructor(config: pg.PoolConfig) {
    super(config);
    this.on('connect', (client) => this.openedIn.set(client as pg.PoolClient, this.round));
  }

  /**
   * Every connection open now is closed instead of lent out again. After the database address led to a standby
   * (see READ_ONLY_SESSION), connections opened to it for reads are refused no read and stay in the pool; each
   * was found out only by a write, one failed login at a time, and the health check took one such connection
   * per round (2 s) before it could say the database was back: with a pool of 8 the node stayed down 16 s after
   * the address moved, and then lost a login per connection.
   */
  renew(): void {
    this.round++;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): Promise<pg.PoolClient> | void {
    // pool.query checks out its client through this.connect(callback), kysely and the rest through the promise
    const checkout = this.checkoutCurrent().catch((e: Error) => Promise.reject(toldWait(this, e)));
    if (!callback) return checkout;
    checkout.then(
      (client) => callback(undefined, client, (release) => client.release(release as Error | boolean | undefined)),
      (err: Error) => callback(err, undefined, () => {}),
    );
  }

  /** A pooled connection opened in the current round; older ones met on the way are closed. */
  private async checkoutCurrent(): Promise<pg.PoolClient> {
    for (;;) {
      const client = await super.connect();
      if ((this.openedIn.get(client) ?? this.round) >= this.round) return client;
      client.release(new Error('renewed: opened before the database address may have moved'));
    }
  }
}

/** Closes, at their next checkout, the connections every pool of `conn` has open now (see WaitTellingPool.renew). */
export function renewConnections(conn: Pick<Connection, 'pool' | 'auditPool' | 'challengePool' | 'spendPool'>): void {
  for (const p of [conn.pool, conn.auditPool, conn.challengePool, conn.spendPool]) if (p instanceof WaitTellingPool) p.renew();
}

/** pg-pool's wait timeout as `pool` is now: left as it is unless every connection is still being opened. */
function toldWait(pool: pg.Pool, e: Error): Error {
  if (e?.message !== POOL_WAIT_TIMEOUT) return e;
  const clients = (pool as unknown as { _clients?: { _connected?: unknown }[] })._clients;
  if (!Array.isArray(clients) || clients.length === 0 || clients.some((c) => c._connected !== false)) return e;
  return new Error(OPENING_WAIT_TIMEOUT, { cause: e });
}

/**
 * A connection of `pool` for the health check, whose own timeout (2 s) is shorter than the pool's wait (3 s):
 * with every connection of a full pool busy it waited past it and read as 'no answer in time', the database
 * hanging, where the pool was too small. Once `waitMs` has passed with every connection busy this fails as the
 * pool's own wait would (pool_exhausted); while one is still being opened (a database host that does not
 * answer) it waits on, and the check's timeout says so. pg-pool cannot withdraw a wait: a connection it hands
 * over later goes straight back.
 */
async function connectionWithin(pool: pg.Pool, waitMs: number): Promise<pg.PoolClient> {
  const checkout = pool.connect();
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<pg.PoolClient>((resolve, reject) => {
    timer = setTimeout(() => {
      const told = toldWait(pool, new Error(POOL_WAIT_TIMEOUT));
      if (databaseFailure(told) === 'pool_exhausted') reject(told);
      else resolve(checkout);
    }, waitMs);
  });
  try {
    return await Promise.race([checkout, waited]);
  } catch (e) {
    checkout.then((client) => client.release(), () => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

export function connect(url: string, opts: ConnectOptions = {}): Connection {
  const name = opts.applicationName ?? 'radotp';
  /** What every pool shares; each adds its size, name and session settings. */
  const pooled = (own: pg.PoolConfig): pg.Pool =>
    new WaitTellingPool({
      connectionString: url,
      connectionTimeoutMillis: CONNECTION_WAIT_MS,
      idleTimeoutMillis: 30000,
      query_timeout: opts.queryTimeoutMs,
      ...KEEPALIVE,
      ...own,
    });
  /** Every serving pool's own end for what radotp gives up on (see statementEndBeyond); none for the CLI. */
  const ended = opts.queryTimeoutMs !== undefined ? [statementEndBeyond(opts.queryTimeoutMs)] : [];
  const pool = pooled({ max: opts.poolSize ?? 10, application_name: name, ...setOnOpen(...ended) });
  /*
   * The audit trail is written behind the replies in batches (AuditWriter), so a crash of radotp can
   * already lose its last batch; its commits need not also wait for PostgreSQL to flush the WAL. Every
   * spend of a code still commits synchronously, and its flush carries the audit rows written before it.
   * What this saves is a flush per audit batch that the spends (whose replies wait for theirs) would
   * otherwise queue behind: measured, about a third of a spend's round trip under load.
   */
  const auditPool = pooled({ max: 2, application_name: `${name} audit`, ...setOnOpen('SET synchronous_commit = off', ...ended) });
  /*
   * A challenge's answer holds a transaction open while it is decided (ChallengeRepository.take), and deciding
   * needs the main pool and the spend pool (the spend): on a pool of their own, answers arriving together can never take every
   * connection their own spends wait for. A node gone without closing its connection (a partition) would keep
   * the challenge locked; PostgreSQL ends such a transaction after the serving query timeout.
   */
  const challengePool = pooled({
    max: Math.max(2, Math.ceil((opts.poolSize ?? 10) / 2)),
    application_name: `${name} challenge`,
    ...(opts.queryTimeoutMs !== undefined ? setOnOpen(`SET idle_in_transaction_session_timeout = ${Math.ceil(opts.queryTimeoutMs)}`, ...ended) : {}),
  });
  /*
   * A spend statement carries every spend of an event-loop turn (SpendBatcher): one user's token row held by another
   * session (a transaction left open on it, an admin command's long transaction) held up every user of the batch
   * until database.queryTimeout, and they failed although their rows were free. Here the statement waits for a lock
   * at most SPEND_LOCK_WAIT_MS (lock_timeout, "Abort any statement that waits longer than the specified amount of time
   * while attempting to acquire a lock on a table, index, row, or other database object"): it is rolled back whole,
   * and the batcher sends its spends again each alone (see SpendBatcher.execute). A session setting of a pool of its
   * own, so that the spend costs no statement and no round trip more: a SET LOCAL would need a transaction around
   * it, and every other statement of a login (a failure count, a lockout) keeps the main pool's ordinary wait.
   */
  const spendPool = pooled({
    max: spendPoolSize(opts.poolSize ?? 10),
    application_name: `${name} spend`,
    ...setOnOpen(lockWaitAtMost(SPEND_LOCK_WAIT_MS), GENERIC_PLANS, ...ended),
  });
  const pools = [pool, auditPool, challengePool, spendPool];
  // An idle client losing its server (database restart) emits 'error' on the pool; unhandled, it would crash the process.
  for (const p of pools) p.on('error', (e) => opts.onError?.(e));
  /*
   * A client in use has no such listener: pg-pool listens for 'error' only while a client is idle, and pg,
   * when the connection breaks under a query (a reset, not an error message from the server), fails the
   * query AND emits 'error' on the client. Unheard, that event ended the process. The query's caller
   * already gets the error (the decision becomes `fail`), and the pool drops the broken client when it
   * comes back, so this listener only has to be there.
   */
  for (const p of pools) {
    p.on('connect', (client) => {
      client.on('error', ignoreInUseClientError);
      // pg-pool emits 'connect' once onConnect (the session's SET, see setOnOpen) has run: a connection lost or
      // refused during its SET is not told as open, nor 'database connections open again' logged for a database
      // that was not answering yet.
      opts.onConnect?.();
    });
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: abandoningTimedOutClients(pool) }) });
  let closed = false;
  return {
    db,
    pool,
    auditPool,
    challengePool,
    spendPool,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([db.destroy(), auditPool.end(), challengePool.end(), spendPool.end()]);
    },
  };
}

/**
 * Tables a login writes (a spend, a failure count, a challenge). A session holding one of them in a mode that
 * conflicts with ROW EXCLUSIVE (ALTER TABLE, VACUUM FULL, TRUNCATE, LOCK TABLE; CREATE INDEX without
 * CONCURRENTLY takes SHARE) holds up the logins that write it until database.queryTimeout, while `SELECT` of a
 * setting still answers at once: /healthz said 200 and Status-Server was answered for a node that could answer no
 * login (RFC 5997 §3: the answer tells the NAS the server is alive, so it kept sending users there).
 * `token` first: held, the check stops there (the node is down, see PARTIAL_LOGIN_TABLES). And `token_seed`, which a
 * login only reads (see LOCK_MODE).
 */
export const LOGIN_TABLES = ['token', 'password_lockout', 'challenge', 'token_seed'] as const;
export type LoginTable = (typeof LOGIN_TABLES)[number];

/**
 * The login tables only some logins write: `password_lockout` those that check a password (a wrong one's count, a
 * right one's clearing), `challenge` those asked for their code; `token_seed` (migration 0018) is read by the logins of
 * users not in the node's login cache (after a start, an admin's change, a user not seen yet). Held by another
 * session, they leave the node up
 * (see heldWarning in app/database-health): the other logins go on, and every node shares the database, so sending
 * the NASes away from all of them would help none.
 */
export const PARTIAL_LOGIN_TABLES = ['password_lockout', 'challenge', 'token_seed'] as const satisfies readonly LoginTable[];
export type PartialLoginTable = (typeof PARTIAL_LOGIN_TABLES)[number];

/**
 * The lock the check takes of each table: the one a login's statements take of it. ROW EXCLUSIVE for the tables
 * logins write; ACCESS SHARE for token_seed, which they only read (a SELECT's lock: only ACCESS EXCLUSIVE, taken by
 * VACUUM FULL, ALTER TABLE, TRUNCATE or a plain LOCK TABLE, holds it up; a CREATE INDEX does not).
 */
export type LoginLockMode = 'ROW EXCLUSIVE' | 'ACCESS SHARE';
export const LOCK_MODE: Readonly<Record<LoginTable, LoginLockMode>> = {
  token: 'ROW EXCLUSIVE',
  password_lockout: 'ROW EXCLUSIVE',
  challenge: 'ROW EXCLUSIVE',
  token_seed: 'ACCESS SHARE',
};

const isPartial = (table: LoginTable): table is PartialLoginTable => (PARTIAL_LOGIN_TABLES as readonly LoginTable[]).includes(table);

/**
 * What the health check found: logins can be decided ('ready'; `held`: all but those that write these tables,
 * which another session holds), or why not (the database itself answered): it only reads, or another session
 * holds `token`.
 */
export type LoginReadiness = 'ready' | 'read-only' | { readonly locked: LoginTable } | { readonly held: readonly PartialLoginTable[] };

/**
 * A LOCK that did not get its table in time: lock_timeout ran out (55P03 lock_not_available), or a
 * statement_timeout a DBA set on the role or database, shorter than the wait, canceled it first (57014
 * query_canceled). Either way the table is held by another session; the database answered.
 */
const LOCK_WAIT_ENDED = new Set(['55P03', '57014']);

/**
 * What the health check asks. Every login writes (a spend, a failure count, a challenge), so a database that
 * only reads (a standby the address leads to after a failover, default_transaction_read_only; a standby's
 * transactions are all read-only, so this one setting covers both) decides no login, and Status-Server should
 * send the NAS elsewhere; nor does one whose `token` table another session holds (LOGIN_TABLES), which is
 * locked here as the logins' statements lock it; the tables only some logins write are each told held, and
 * leave the node up (PARTIAL_LOGIN_TABLES). Nothing is written: the transaction only takes the locks
 * and rolls back. `lockWaitMs` is one budget for the wait for a pooled connection and the locks.
 *
 * Each table is locked alone, under a savepoint rolled back as soon as the lock is had: "if a lock is acquired
 * after establishing a savepoint, the lock is released immediately if the savepoint is rolled back to"
 * (PostgreSQL docs, Explicit Locking). One `LOCK TABLE a, b, c` locks them one after another and keeps each
 * while it waits for the next: a migration or a DBA holding password_lockout and then wanting token waited
 * behind the check, until PostgreSQL's deadlock check aborted one of the two (the DBA's, or the check, which
 * then read as the database unreachable). Holding nothing while it waits, the check can be in no deadlock.
 */
export async function loginReadiness(pool: pg.Pool, lockWaitMs: number): Promise<LoginReadiness> {
  const deadline = Date.now() + lockWaitMs;
  const client = await connectionWithin(pool, lockWaitMs);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const r = await client.query<{ writable: boolean }>("SELECT current_setting('transaction_read_only') = 'off' AS writable");
    if (r.rows[0]?.writable !== true) {
      broken = new Error(READ_ONLY_SESSION); // leads to a standby: closed, so the next check opens a connection anew
      return 'read-only';
    }
    const held: PartialLoginTable[] = [];
    for (const table of LOGIN_TABLES) {
      // one wait budget for them all: what one table's wait took, the next has not (a free table needs no wait)
      const waitMs = Math.max(1, Math.round(deadline - Date.now()));
      try {
        await client.query(`SAVEPOINT login_table; SET LOCAL lock_timeout = ${waitMs}; LOCK TABLE ${table} IN ${LOCK_MODE[table]} MODE; ROLLBACK TO SAVEPOINT login_table`);
      } catch (e) {
        if (!LOCK_WAIT_ENDED.has(postgresSqlstate(e) ?? '')) throw e;
        if (!isPartial(table)) return { locked: table };
        held.push(table);
        // the failed LOCK aborted the transaction: back to the savepoint, to check the next table
        await client.query('ROLLBACK TO SAVEPOINT login_table');
      }
    }
    return held.length === 0 ? 'ready' : { held };
  } catch (e) {
    broken = e as Error;
    throw e;
  } finally {
    // a connection that failed (lost, timed out) or leads to a standby is closed by the pool rather than sent a ROLLBACK
    if (broken === undefined) await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    client.release(broken);
  }
}

/**
 * A session that only reads: opened while the database address led to a standby (after a Patroni switchover
 * the old primary comes back as one, and the virtual IP may lead to it for a while) or under
 * default_transaction_read_only. A session keeps what it was opened on: when the address moves to the new
 * primary, a connection opened before still leads to the standby (a proxy keeps established sessions), and
 * its every write fails with SQLSTATE 25006 read_only_sql_transaction. Kept in the pool, it never went idle
 * long enough to be closed (the health check and logins take one every few seconds), and the node stayed down
 * after the database was writable again. Such a connection is closed instead of going back to the pool.
 */
const READ_ONLY_SESSION = 'the database session is read-only (a standby, or default_transaction_read_only)';

/** An error that says this connection's session cannot write (SQLSTATE 25006): see READ_ONLY_SESSION. */
export function isReadOnlySession(e: unknown): boolean {
  return postgresSqlstate(e) === '25006';
}

/** pg's error for a statement that outlived query_timeout (database.queryTimeout). */
const QUERY_READ_TIMEOUT = 'Query read timeout';

/** pg's error for a statement that outlived query_timeout. */
export function isQueryTimeout(e: unknown): boolean {
  return e instanceof Error && e.message === QUERY_READ_TIMEOUT;
}

/**
 * The pool as kysely sees it, where a client whose statement timed out goes back as broken. pg fails the
 * statement on time but leaves it in progress on the client (the answer may still come); `pool.query`
 * then releases the client with the error, and the pool closes it. kysely releases without one, so the
 * client would return to the pool and the next statement given it would queue behind the lost one. Here
 * it is released with the timeout, and any statement kysely still sends on it (a transaction's ROLLBACK)
 * fails at once instead of waiting out a second timeout. A client whose session is read-only (a write
 * refused with SQLSTATE 25006: see READ_ONLY_SESSION) goes back as broken too, as `pool.query` sends it.
 */
function abandoningTimedOutClients(pool: pg.Pool): PostgresPool {
  const clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let timedOut: Error | undefined;
    let readOnly: Error | undefined;
    const query = (text: string, values: unknown[]) => {
      if (timedOut) return Promise.reject(timedOut);
      return client.query(text, values).catch((e: unknown) => {
        if (isQueryTimeout(e)) timedOut = e as Error;
        else if (isReadOnlySession(e)) readOnly = e as Error;
        throw e;
      });
    };
    return { query, release: () => client.release(timedOut ?? readOnly) } as unknown as PostgresPoolClient; // kysely uses no cursor here
  };
  return {
    async connect() {
      const client = await pool.connect();
      let wrapped = clients.get(client);
      if (!wrapped) clients.set(client, (wrapped = wrap(client)));
      return wrapped;
    },
    end: () => pool.end(),
  };
}

function ignoreInUseClientError(): void {}

/**
 * A session setting of every connection of a pool, SET when the connection opens: pg-pool runs `onConnect` on a
 * new connection before it lends it out, and a failure fails that use and closes the connection. Not the startup
 * packet's `options` (`-c name=value`): PgBouncer, which operators often put in front of PostgreSQL, refuses a
 * connection carrying it ("unsupported startup parameter: options"), so the audit trail was never written and
 * every CLI command writing an audit row failed; told to ignore it (ignore_startup_parameters), it drops the
 * setting silently. A SET reaches PostgreSQL through PgBouncer in session mode (the server connection is this
 * client's until it disconnects; PgBouncer's server_reset_query, DISCARD ALL, then resets it).
 *
 * `onConnect`, not pg-pool's `verify`: verify runs after the connection is assigned to the statement waiting for
 * it, and hands it over when the SET is done whether or not that wait has run out meanwhile (connectionTimeoutMillis,
 * CONNECTION_WAIT_MS). A wait that ran out while the SET was on its way (a database slow to answer, or stalled and
 * back) was given a connection no one held: lent out for good, the pool one smaller until the process ended, and its
 * end (radotp stopping) waiting for it forever. pg-pool runs onConnect before it looks at the wait, and gives a
 * connection whose wait ran out back to the pool (test/store/session-setup-wait.test.ts).
 */
function setOnOpen(...statements: string[]): Pick<pg.PoolConfig, 'onConnect'> {
  if (statements.length === 0) return {};
  const text = statements.join('; '); // one round trip (the simple query protocol takes several statements)
  return { onConnect: async (client) => void (await client.query(text)) };
}

/**
 * How long a spend statement waits for a row lock (see spendPool). Another node's spend of the same token (two
 * nodes, one code) holds the row only while its own statement runs (17 ms at the benchmark's p99), well within
 * this; a row held longer is held by something that is not a spend. What an expired wait costs the users of the
 * batch whose rows are free: this, and one round trip for their spend alone.
 */
export const SPEND_LOCK_WAIT_MS = 100;

/**
 * Connections for spends: one statement in flight, two once it is slow (SpendBatcher), more once those are held up,
 * and the spends of a statement whose lock wait ran out, sent again alone. Half of database.poolSize (at least 2), as
 * for challenges: a spend that waits 3 s for a connection fails as database_pool_exhausted, whose warning names
 * database.poolSize, which must then be what sizes this pool too.
 */
export function spendPoolSize(poolSize: number): number {
  return Math.max(2, Math.ceil(poolSize / 2));
}

/**
 * The spend pool's prepared statements are planned once, generically (plan_cache_mode, PostgreSQL 12+; an older server
 * has no such setting and keeps its own choice). WHY: PostgreSQL plans a prepared statement for its actual parameters
 * (a custom plan) for its first five runs, and after that only while those plans were estimated cheaper on average
 * than the generic one. A spend's arrays hold as many rows as the batch: the generic plan is estimated for an array of
 * unknown length, a custom plan for the batch's own, so a connection whose first spends came in small batches (a
 * server starting, a site whose batches stay small) kept planning every spend anew, and bursts of larger batches too
 * until the average came round. Measured with bench/spend-cost.ts, the backend's CPU a statement planned anew against
 * generically: 340 against 201 µs for one spend, 433 against 294 for 8, 727 against 516 for 32 (40-70 % more), and its
 * round trip 0.16-0.26 ms longer. The generic plan is also the one test/store/spend-plan.test.ts pins (a
 * nested loop over the array in id order, which the SpendBatcher's deadlock reasoning relies on); a custom plan for a
 * large batch was free to be another.
 */
const GENERIC_PLANS = `SELECT set_config('plan_cache_mode', 'force_generic_plan', false) FROM pg_settings WHERE name = 'plan_cache_mode'`;

/** SQLSTATE 55P03 lock_not_available: lock_timeout ran out (no statement of radotp's takes a lock with NOWAIT). */
export const LOCK_NOT_AVAILABLE = '55P03';

/** The session's lock_timeout set to `ms`, unless a DBA set a shorter one on the role or database (theirs stays). */
function lockWaitAtMost(ms: number): string {
  return timeoutAtMost('lock_timeout', ms);
}

/**
 * The statement setting the session's timeout `name` (milliseconds) to `ms`, unless it is set shorter already (on the
 * role or database: theirs stays); 0, PostgreSQL's "no timeout", counts as longer than any.
 */
function timeoutAtMost(name: 'lock_timeout' | 'statement_timeout', ms: number): string {
  return `SELECT set_config('${name}', '${ms}', false) FROM pg_settings WHERE name = '${name}' AND (setting::bigint = 0 OR setting::bigint > ${ms})`;
}

/** How long after database.queryTimeout PostgreSQL ends a statement radotp gave up on (see statementEndBeyond). */
export const STATEMENT_END_MARGIN_MS = 1000;

/**
 * The session's statement_timeout set just beyond database.queryTimeout, unless a DBA set one that ends
 * statements sooner (ALTER ROLE/DATABASE … SET statement_timeout: theirs stays, and is told as theirs).
 * WHY: radotp gives up on a statement after database.queryTimeout and closes its connection, but PostgreSQL does
 * not notice a closed connection while its backend waits on a lock (another session's open transaction holding a
 * user's token row): the statement waited on for as long as the row was held, one backend (one of
 * max_connections) per login given up on, and then ran. A spend of a login told `fail` (no answer) was committed
 * once the row was let go, and the user typing the same code again was refused as `replay`. Ending it here, the
 * margin after radotp's own timeout, keeps the login's reason database.queryTimeout's (query_timeout): the margin
 * is what the event loop may lag before radotp's timer fires. Statement text, not a parameter: `onConnect` runs it
 * as a simple query, and the value is a number of ours.
 */
function statementEndBeyond(queryTimeoutMs: number): string {
  return timeoutAtMost('statement_timeout', Math.ceil(queryTimeoutMs) + STATEMENT_END_MARGIN_MS);
}

/** The SQLSTATE of an error PostgreSQL itself sent (e.g. 53100 disk full); undefined for a lost connection. */
export function postgresSqlstate(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[0-9][0-9A-Z]{4}$/.test(code) ? code : undefined;
}

/**
 * Whose clock ended a statement that ran out of time, each set in its own place:
 * - `query_timeout`: radotp's, database.queryTimeout (pg's query_timeout: "Query read timeout");
 * - `statement_canceled`: PostgreSQL canceled it, SQLSTATE 57014 query_canceled: its statement_timeout ("Abort
 *   any statement that takes more than the specified amount of time") ran out, set by a DBA on the role or the
 *   database (ALTER ROLE … SET statement_timeout), or a cancel request (pg_cancel_backend) came;
 * - `lock_timeout`: PostgreSQL's lock_timeout ("Abort any statement that waits longer than the specified amount
 *   of time while attempting to acquire a lock") ran out, SQLSTATE 55P03 lock_not_available. NOWAIT fails with
 *   the same SQLSTATE, but no statement of radotp's takes a lock with NOWAIT (the health check's own
 *   lock_timeout is told apart in loginReadiness, the spend pool's in SpendBatcher, which sends those spends again).
 * Told by SQLSTATE, not by message: PostgreSQL writes its messages in the server's lc_messages language.
 */
export type TimeoutCause = 'query_timeout' | 'statement_canceled' | 'lock_timeout';

const TIMEOUT_SQLSTATES: Readonly<Record<string, TimeoutCause>> = { '57014': 'statement_canceled', '55P03': 'lock_timeout' };

export function timeoutCause(e: unknown): TimeoutCause | undefined {
  if (isQueryTimeout(e)) return 'query_timeout';
  const sqlstate = postgresSqlstate(e);
  return sqlstate === undefined ? undefined : TIMEOUT_SQLSTATES[sqlstate];
}

/**
 * Why the database kept a statement from being done, as far as the one on call acts on it:
 * - `unavailable`: the database is away or refuses the work (a lost or refused connection, no new connection
 *   within connectionTimeoutMillis, a shutdown, a full disk, a read-only standby): look at the database;
 * - `timeout`: a statement ran out of time (see TimeoutCause: database.queryTimeout, or PostgreSQL's own
 *   statement_timeout or lock_timeout, or a cancel request): a lock another session holds, a slow query, a host
 *   gone without a reset;
 * - `pool_exhausted`: every pooled connection stayed busy for the whole wait (pg-pool's connectionTimeoutMillis
 *   on checking out a client; a new connection that is slow to open fails as "Connection terminated due to
 *   connection timeout" instead, and a wait behind openings only is `unavailable`: see WaitTellingPool):
 *   database.poolSize too small for the load, or statements held up.
 * undefined: not the database's doing (a bug, a constraint).
 */
export type DatabaseFailure = 'unavailable' | 'timeout' | 'pool_exhausted';

export function databaseFailure(e: unknown): DatabaseFailure | undefined {
  const err = e as { code?: string; message?: string };
  if (!err) return undefined;
  if (typeof err.code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'].includes(err.code)) return 'unavailable';
    // SQLSTATE class 08 (connection exception), 57P (operator intervention: shutdown), 53 (insufficient resources),
    // 25006 (read-only transaction: a standby reached after a failover, or default_transaction_read_only set),
    // where no login can write its spend or failure count
    if (/^(08|57P|53)/.test(err.code) || err.code === '25006') return 'unavailable';
  }
  if (timeoutCause(e) !== undefined) return 'timeout';
  const message = err.message ?? '';
  if (message === OPENING_WAIT_TIMEOUT) return 'unavailable';
  if (message === POOL_WAIT_TIMEOUT) return 'pool_exhausted';
  if (/Connection terminated|Client has encountered a connection error/i.test(message)) return 'unavailable';
  return undefined;
}

/** Errors that mean "the database is not answering" rather than "the query is wrong" (any DatabaseFailure). */
export function isDatabaseUnavailable(e: unknown): boolean {
  return databaseFailure(e) !== undefined;
}
