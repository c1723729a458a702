import net from 'node:net';
import { sql } from 'kysely';
import { connect, databaseFailure, isDatabaseUnavailable, type Connection } from '../../src/store/connect';
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

test('an error that is not the database\'s: none', () => {
  expect(databaseFailure(new TypeError('x is undefined'))).toBeUndefined();
  expect(databaseFailure(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBeUndefined();
});
