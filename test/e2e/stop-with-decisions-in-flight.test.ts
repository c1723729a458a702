import pg from 'pg';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';

/*
 * SIGTERM (RunningServer.stop) while a login still waits on the database past the RADIUS server's 5 s grace: the
 * decision it ends in (here the statement outlives database.queryTimeout, `fail database_timeout`) is made after
 * the sockets closed, and must still reach the audit trail. It was written to an audit writer already closed and
 * flushed, and lost without a word: not in the trail, not in the "audit events lost" count.
 */
const PASSWORD = 'in-flight-password';

let t: TestServer;
beforeAll(async () => {
  // a queryTimeout longer than the 5 s grace: the decision comes after the sockets closed
  t = await startTestServer({ users: [{ username: 'alice', password: PASSWORD }], config: { database: { queryTimeout: 7 } } });
});
afterAll(() => t?.close());

test('a decision made after the grace period, while the server stops, is audited once', async () => {
  const locker = new pg.Client({ connectionString: t.cfg.database.url });
  await locker.connect();
  try {
    await locker.query('BEGIN; LOCK TABLE password_lockout IN ACCESS EXCLUSIVE MODE');
    const answer = authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 1000 });
    await new Promise((r) => setTimeout(r, 300)); // the login is waiting on the lock
    const stopped = t.server.stop();
    expect(await answer).toBeNull();
    await stopped;
    await locker.query('ROLLBACK');
    const rows = await locker.query("SELECT username, result, reason FROM audit_event WHERE username = 'alice'");
    expect(rows.rows).toEqual([{ username: 'alice', result: 'fail', reason: 'database_timeout' }]);
  } finally {
    await locker.end();
  }
}, 30_000);
