import net from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { connect, databaseFailure, isDatabaseUnavailable, timeoutCause, type Connection } from '../../src/store/connect';
import { poolRunner } from '../../src/store/prepared';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A login the database keeps from being decided is `fail`, but why matters to whoever is on call: a database
 * that is down, a statement that outlived database.queryTimeout (a lock, a slow query) and a pool whose every
 * connection stayed busy (database.poolSize too small) each call for something else. They were all one
 * reason, database_unavailable. These are the errors pg and pg-pool really give, told apart.
 */
let db: TestDatabase;
let conn: Connection | undefined;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await conn?.close();
  conn = undefined;
});
afterAll(() => db.drop());

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

test('a refused connection: unavailable', async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  conn = connect(`postgres://nobody@127.0.0.1:${port}/none`, { poolSize: 1 });
  const e = await errorOf(sql`SELECT 1`.execute(conn.db));
  expect(databaseFailure(e)).toBe('unavailable');
});

test('a statement that outlived the query timeout: timeout (still "database unavailable" to the retries)', async () => {
  conn = connect(db.url, { poolSize: 1, queryTimeoutMs: 200 });
  const e = await errorOf(sql`SELECT pg_sleep(2)`.execute(conn.db));
  expect(databaseFailure(e)).toBe('timeout');
  expect(isDatabaseUnavailable(e)).toBe(true);
});

test('every pooled connection busy until the wait ran out: pool_exhausted, through kysely and the prepared statements alike', async () => {
  conn = connect(db.url, { poolSize: 1 });
  const held = await conn.pool.connect();
  try {
    const [viaKysely, prepared] = await Promise.all([
      errorOf(sql`SELECT 1`.execute(conn.db)),
      errorOf(poolRunner(conn.pool)({ name: 'pool_exhausted_probe', text: 'SELECT 1' }, [])),
    ]);
    expect(databaseFailure(viaKysely)).toBe('pool_exhausted');
    expect(databaseFailure(prepared)).toBe('pool_exhausted');
  } finally {
    held.release();
  }
}, 15_000);

/*
 * A database host gone without a reset (a partition, a black-holed address) or a server that accepts and never
 * answers: each new connection runs out its 3 s opening, and the logins queued behind those openings ran out the
 * same 3 s wait as pg-pool's "timeout exceeded when trying to connect". They were called pool_exhausted, with a
 * warning to raise database.poolSize, for most logins of an outage under load.
 */
test('logins queued behind connections that cannot be opened: unavailable, not pool_exhausted', async () => {
  const held: net.Socket[] = [];
  const silent = net.createServer((s) => held.push(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    conn = connect(`postgres://nobody@127.0.0.1:${(silent.address() as net.AddressInfo).port}/none`, { poolSize: 1 });
    const errors = await Promise.all([
      errorOf(poolRunner(conn.pool)({ name: 'opening_probe', text: 'SELECT 1' }, [])),
      errorOf(sql`SELECT 1`.execute(conn.db)),
      errorOf(poolRunner(conn.pool)({ name: 'opening_probe', text: 'SELECT 1' }, [])),
    ]);
    expect(errors.map(databaseFailure)).toEqual(['unavailable', 'unavailable', 'unavailable']);
  } finally {
    held.forEach((s) => s.destroy());
    silent.close();
  }
}, 15_000);

/** An error as PostgreSQL sends it (pg's DatabaseError carries the SQLSTATE as `code`). */
const fromPostgres = (code: string, message: string) => Object.assign(new Error(message), { code });

/*
 * The errors as they come, told apart. A DBA's own timeouts (statement_timeout or lock_timeout set on the role
 * or the database) and a cancel request end a login's statement with 57014 or 55P03: that is a timeout, whose
 * cause is a setting of PostgreSQL's (timeoutCause), not a bug of radotp's, nor radotp's database.queryTimeout.
 */
// [case, error, databaseFailure, timeoutCause]
const classified: [string, unknown, string | undefined, string | undefined][] = [
  ["pg's query_timeout (database.queryTimeout)", new Error('Query read timeout'), 'timeout', 'query_timeout'],
  ['statement_timeout ran out (57014)', fromPostgres('57014', 'canceling statement due to statement timeout'), 'timeout', 'statement_canceled'],
  ['a cancel request, pg_cancel_backend (57014)', fromPostgres('57014', 'canceling statement due to user request'), 'timeout', 'statement_canceled'],
  ['57014 in another language (lc_messages): by SQLSTATE', fromPostgres('57014', "annulation de la requête à cause du délai écoulé pour l'exécution de l'instruction"), 'timeout', 'statement_canceled'],
  ['lock_timeout ran out (55P03)', fromPostgres('55P03', 'canceling statement due to lock timeout'), 'timeout', 'lock_timeout'],
  ['every pooled connection busy', new Error('timeout exceeded when trying to connect'), 'pool_exhausted', undefined],
  ['a shutdown (57P01: terminated by pg_terminate_backend)', fromPostgres('57P01', 'terminating connection due to administrator command'), 'unavailable', undefined],
  ['disk full (53100)', fromPostgres('53100', 'could not extend file'), 'unavailable', undefined],
  ['read-only (25006)', fromPostgres('25006', 'cannot execute UPDATE in a read-only transaction'), 'unavailable', undefined],
  ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), 'unavailable', undefined],
  // matched exactly, not by a part of the message: a bug's message quoting one is no timeout
  ['a message that only contains "Query read timeout"', new Error('retry after Query read timeout'), undefined, undefined],
  ['a message that only contains the pool\'s', new Error('no: timeout exceeded when trying to connect twice'), undefined, undefined],
  ['a constraint (23505)', fromPostgres('23505', 'duplicate key'), undefined, undefined],
  ['a bug', new TypeError('x is undefined'), undefined, undefined],
  ['not an error at all', undefined, undefined, undefined],
];

test.each(classified)('%s', (_case, error, failure, cause) => {
  expect(databaseFailure(error)).toBe(failure);
  expect(timeoutCause(error)).toBe(cause);
});

/** The errors above are PostgreSQL's own: the same SQLSTATEs from a real server. */
test.each([
  ['statement_timeout', "SET statement_timeout = '100ms'", 'SELECT pg_sleep(2)', 'statement_canceled'],
  ['lock_timeout', "SET lock_timeout = '100ms'", 'SELECT * FROM held_here', 'lock_timeout'],
])("a real %s: timeout, and its cause", async (_setting, set, statement, cause) => {
  const holder = new pg.Client({ connectionString: db.url });
  const victim = new pg.Client({ connectionString: db.url });
  await Promise.all([holder.connect(), victim.connect()]);
  try {
    await holder.query('CREATE TABLE IF NOT EXISTS held_here (x int)');
    await holder.query('BEGIN; LOCK TABLE held_here IN ACCESS EXCLUSIVE MODE');
    await victim.query(set);
    const e = await errorOf(victim.query(statement));
    expect(databaseFailure(e)).toBe('timeout');
    expect(timeoutCause(e)).toBe(cause);
  } finally {
    await Promise.all([holder.end(), victim.end()]);
  }
});
