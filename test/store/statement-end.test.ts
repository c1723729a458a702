import { connect } from '../../src/store/connect';
import { createTestDatabase, setOnDatabase, type TestDatabase } from '../support/test-database';

/*
 * serve gives up on a statement after database.queryTimeout and closes its connection, but PostgreSQL does not
 * notice a closed connection while its backend waits on a lock: the statement went on waiting, a backend per
 * login given up on, and ran once the lock was let go (a spend committed for a login told `fail`; the whole
 * story: test/e2e/stuck-token-row.test.ts). Every serving pool's session ends statements itself, a second after
 * database.queryTimeout, unless a DBA's statement_timeout (on the role or database) ends them sooner; the CLI,
 * whose statements may run as long as they need, sets nothing.
 */
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});


test.each([
  { dba: null, queryTimeoutMs: 2000, expected: '3000' },
  { dba: '1h', queryTimeoutMs: 2000, expected: '3000' },
  { dba: '500ms', queryTimeoutMs: 2000, expected: '500' },
  { dba: '3s', queryTimeoutMs: 2000, expected: '3000' },
  { dba: null, queryTimeoutMs: undefined, expected: '0' },
  { dba: '1h', queryTimeoutMs: undefined, expected: '3600000' },
])("a DBA's statement_timeout $dba, queryTimeoutMs $queryTimeoutMs: every pool's sessions end statements after $expected ms", async ({ dba, queryTimeoutMs, expected }) => {
  await setOnDatabase(db.url, 'statement_timeout', dba);
  const conn = connect(db.url, { poolSize: 1, queryTimeoutMs });
  try {
    const read = "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'";
    const settings = await Promise.all([conn.pool, conn.auditPool, conn.challengePool, conn.spendPool].map(async (p) => (await p.query(read)).rows[0].setting as string));
    expect(settings).toEqual([expected, expected, expected, expected]);
  } finally {
    await conn.close();
  }
});
