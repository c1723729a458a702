import pg from 'pg';
import { watchDatabaseHealth, type DownReason } from '../../src/app/database-health';
import { connect, databaseFailure, LOGIN_TABLES, loginReadiness } from '../../src/store/connect';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/*
 * The health check takes the login tables' ROW EXCLUSIVE lock, as a login's UPDATE does, to see whether another
 * session holds them (an ALTER TABLE, a VACUUM FULL, a migration). It took all three in one LOCK TABLE, which
 * locks them one after another and keeps each while it waits for the next: a migration holding password_lockout
 * and then wanting token waited behind the health check (holding token) until PostgreSQL's deadlock check
 * aborted one of the two after deadlock_timeout — the migration, or the check, which then read as 'unreachable'.
 * Nor did it say which table was held. Each table is now locked alone, under a savepoint rolled back at once
 * ("if a lock is acquired after establishing a savepoint, the lock is released immediately if the savepoint is
 * rolled back to", PostgreSQL docs, Explicit Locking), so the check never holds one while it waits for another.
 */
let db: MigratedDatabase;
const clients: pg.Client[] = [];
beforeAll(async () => {
  db = await createMigratedDatabase();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end()));
});
afterAll(() => db.close());

/** Another session (a DBA, a migration), in a transaction, holding `table` in `mode`. */
async function holding(table: string, mode: string): Promise<pg.Client> {
  const session = new pg.Client({ connectionString: db.url, application_name: 'dba' });
  clients.push(session);
  await session.connect();
  await session.query(`BEGIN; LOCK TABLE ${table} IN ${mode} MODE`);
  return session;
}

/** Until some session waits for a lock on `table` (the health check, here). */
const someoneWaitsFor = (table: string) =>
  waitFor(`a wait for ${table}`, async () => {
    const r = await db.conn.pool.query('SELECT 1 FROM pg_locks WHERE NOT granted AND relation = $1::regclass', [table]);
    return r.rowCount ? true : undefined;
  });

// [tables held, mode, what the check finds: token locked (the node goes down), or the tables only some logins write held]
test.each([
  [['token'], 'ACCESS EXCLUSIVE', { locked: 'token' }], // ALTER TABLE, VACUUM FULL
  [['token'], 'SHARE', { locked: 'token' }], // CREATE INDEX without CONCURRENTLY
  [['password_lockout'], 'SHARE', { held: ['password_lockout'] }],
  [['password_lockout'], 'ACCESS EXCLUSIVE', { held: ['password_lockout'] }],
  [['challenge'], 'EXCLUSIVE', { held: ['challenge'] }],
  // both are told, each with its warning and metric: the first found held no longer hides the other
  [['password_lockout', 'challenge'], 'ACCESS EXCLUSIVE', { held: ['password_lockout', 'challenge'] }],
  [['token', 'password_lockout', 'challenge'], 'ACCESS EXCLUSIVE', { locked: 'token' }],
])('%j held in %s mode: %j', async (tables, mode, found) => {
  for (const table of tables) expect(LOGIN_TABLES).toContain(table);
  await holding(tables.join(', '), mode);
  expect(await loginReadiness(db.conn.pool, 300)).toEqual(found);
});

test('none held: ready', async () => {
  expect(await loginReadiness(db.conn.pool, 300)).toBe('ready');
});

test('a migration that locks password_lockout, then token: not held up behind the health check, no deadlock; the check finds password_lockout held', async () => {
  const migration = await holding('password_lockout', 'ACCESS EXCLUSIVE');
  const readiness = loginReadiness(db.conn.pool, 2500);
  await someoneWaitsFor('password_lockout');
  const started = Date.now();
  await migration.query('LOCK TABLE token IN ACCESS EXCLUSIVE MODE'); // deadlock_timeout is 1 s: a wait of it is a deadlock check
  expect(Date.now() - started).toBeLessThan(500);
  expect(await readiness).toEqual({ held: ['password_lockout'] });
  await migration.query('COMMIT');
});

test('the tables share one wait budget: two held one after the other do not make the check wait twice as long', async () => {
  const first = await holding('token', 'ACCESS EXCLUSIVE');
  await holding('challenge', 'ACCESS EXCLUSIVE');
  const started = Date.now();
  const readiness = loginReadiness(db.conn.pool, 1000);
  await someoneWaitsFor('token');
  setTimeout(() => void first.query('COMMIT'), 600); // token comes free after 600 ms; 400 ms left for challenge
  expect(await readiness).toEqual({ held: ['challenge'] });
  expect(Date.now() - started).toBeLessThan(1400);
});

/*
 * A DBA's statement_timeout shorter than the check's lock wait (set on the role, here on the session): the LOCK is
 * canceled with SQLSTATE 57014 rather than 55P03. It is still a table held by another session, not a database
 * that cannot be reached.
 */
test("statement_timeout shorter than the lock wait: still locked (57014 is the table's wait, not 'unreachable')", async () => {
  await holding('token', 'ACCESS EXCLUSIVE');
  const pool = new pg.Pool({ connectionString: db.url, max: 1, options: '-c statement_timeout=200' });
  try {
    const started = Date.now();
    expect(await loginReadiness(pool, 2000)).toEqual({ locked: 'token' });
    expect(Date.now() - started).toBeLessThan(1500);
  } finally {
    await pool.end();
  }
});

/*
 * Every connection of the pool busy (database.poolSize too small for the load, or statements held up): the check
 * waited for one past its own timeout and said 'no answer in time', which reads as the database hanging, so the
 * on-call called the DBA where raising database.poolSize was the fix. It now gives up within its wait, as the
 * pool's own wait for a connection would (pool_exhausted), and the health check says 'pool exhausted'.
 */
describe('every pooled connection busy', () => {
  test('the check gives up within its wait, as pool_exhausted', async () => {
    const conn = connect(db.url, { poolSize: 1 });
    const held = await conn.pool.connect();
    try {
      const started = Date.now();
      const e = await loginReadiness(conn.pool, 300).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(databaseFailure(e)).toBe('pool_exhausted');
      expect(Date.now() - started).toBeLessThan(1000); // not the pool's own 3 s
    } finally {
      held.release();
      await conn.close();
    }
  });

  test("the health check says 'pool exhausted', not 'no answer in time' nor 'unreachable'; up again once one comes free", async () => {
    const conn = connect(db.url, { poolSize: 2 });
    const held = await Promise.all([conn.pool.connect(), conn.pool.connect()]);
    const changes: [boolean, DownReason | undefined][] = [];
    const health = watchDatabaseHealth({ ping: (w) => loginReadiness(conn.pool, w), onChange: (up, why) => changes.push([up, why]), intervalMs: 50, timeoutMs: 600 });
    try {
      await waitFor('the health check to go down', async () => (changes.length >= 1 ? true : undefined), 5000);
      held.forEach((c) => c.release());
      await waitFor('the health check to come back', async () => (changes.length >= 2 ? true : undefined), 5000);
      expect(changes).toEqual([
        [false, 'pool exhausted'],
        [true, undefined],
      ]);
    } finally {
      await health.stop();
      await conn.close();
    }
  });
});
