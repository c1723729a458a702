import { connect, SPEND_LOCK_WAIT_MS } from '../../src/store/connect';
import { createTestDatabase, setOnDatabase, type TestDatabase } from '../support/test-database';

/*
 * A spend statement carries every spend of an event-loop turn; one user's token row held by another session held
 * them all up until database.queryTimeout (the story: test/e2e/stuck-token-row.test.ts). The spend pool's sessions
 * wait for a lock only SPEND_LOCK_WAIT_MS, then the batcher sends the spends again alone. Only theirs: every other
 * pool keeps the ordinary wait (a DBA's lock_timeout, or none), and a DBA's shorter lock_timeout stays.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});


const ours = String(SPEND_LOCK_WAIT_MS);
test.each([
  { dba: null, queryTimeoutMs: 2000, spend: ours, others: '0' },
  { dba: '1h', queryTimeoutMs: 2000, spend: ours, others: '3600000' },
  { dba: '20ms', queryTimeoutMs: 2000, spend: '20', others: '20' },
  { dba: null, queryTimeoutMs: undefined, spend: ours, others: '0' },
])("a DBA's lock_timeout $dba, queryTimeoutMs $queryTimeoutMs: the spend pool waits $spend ms for a lock, the others $others", async ({ dba, queryTimeoutMs, spend, others }) => {
  await setOnDatabase(db.url, 'lock_timeout', dba);
  const conn = connect(db.url, { poolSize: 1, queryTimeoutMs });
  try {
    const read = "SELECT setting FROM pg_settings WHERE name = 'lock_timeout'";
    const settings = await Promise.all([conn.spendPool, conn.pool, conn.auditPool, conn.challengePool].map(async (p) => (await p.query(read)).rows[0].setting as string));
    expect(settings).toEqual([spend, others, others, others]);
  } finally {
    await conn.close();
  }
});

// database.poolSize sizes the spend pool too (README's connection count): a spend's wait for a connection that runs
// out is told as database_pool_exhausted, whose warning names database.poolSize
test.each([
  [1, 2],
  [4, 2],
  [10, 5],
  [200, 100],
])('database.poolSize %i: up to %i connections for spends', async (poolSize, expected) => {
  const conn = connect(db.url, { poolSize });
  try {
    expect(conn.spendPool.options.max).toBe(expected);
  } finally {
    await conn.close();
  }
});
