import { sql } from 'kysely';
import { connect, isDatabaseUnavailable, type Connection } from '../../src/store/connect';
import { ChangeListener, type ChangeEvent } from '../../src/store/change-listener';
import { poolRunner } from '../../src/store/prepared';
import { PluggableProxy } from '../support/pluggable-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/*
 * A database host that vanishes without a reset (a partition, a virtual IP moved to a standby) leaves every
 * open connection hanging until the kernel gives up, about 15 minutes. A statement on one must fail within
 * the query timeout, and its connection must not go back to the pool: the next statement, on a pool of one,
 * would wait behind the lost one.
 */
const TIMEOUT_MS = 400;
let db: TestDatabase;
let proxy: PluggableProxy;
let viaProxy: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const target = new URL(db.url);
  proxy = await PluggableProxy.start({ host: target.hostname, port: Number(target.port) });
  const url = new URL(db.url);
  url.port = String(proxy.port);
  viaProxy = url.toString();
});

afterAll(async () => {
  await proxy.close();
  await db.drop();
});

/** How long `promise` took to settle, and its error if it failed. */
async function settle(promise: Promise<unknown>): Promise<{ ms: number; error?: unknown }> {
  const started = Date.now();
  try {
    await promise;
    return { ms: Date.now() - started };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

/** `connections`: how many the pool holds open when the host vanishes; each is lost to one statement. */
const ways: { name: string; connections: number; run: (c: Connection) => Promise<unknown> }[] = [
  { name: 'a kysely query', connections: 1, run: (c) => sql`SELECT 1 AS one`.execute(c.db) },
  { name: 'a kysely transaction', connections: 1, run: (c) => c.db.transaction().execute((tx) => sql`SELECT 1 AS one`.execute(tx)) },
  { name: 'a prepared login statement (pool.query)', connections: 1, run: (c) => poolRunner(c.pool)({ name: 'query_timeout_probe', text: 'SELECT 1 AS one' }, []) },
  { name: 'an audit insert (the audit pool)', connections: 2, run: (c) => poolRunner(c.auditPool)({ name: 'query_timeout_probe', text: 'SELECT 1 AS one' }, []) },
];

describe.each(ways)('$name on a connection whose host vanished', ({ connections, run }) => {
  let conn: Connection;
  beforeEach(async () => {
    conn = connect(viaProxy, { poolSize: 1, queryTimeoutMs: TIMEOUT_MS });
    await Promise.all(Array.from({ length: connections }, () => run(conn))); // open through the proxy, now idle in the pool
  });
  afterEach(() => conn.close());

  test('fails as "database unavailable" within the timeout, and the next one works on a fresh connection (not behind the lost one)', async () => {
    proxy.strandOpenConnections();
    for (let i = 0; i < connections; i++) {
      const lost = await settle(run(conn));
      expect(isDatabaseUnavailable(lost.error)).toBe(true);
      expect(lost.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(lost.ms).toBeLessThan(TIMEOUT_MS * 4);
    }
    const next = await settle(run(conn));
    expect(next.error).toBeUndefined();
    expect(next.ms).toBeLessThan(TIMEOUT_MS);
  });
});

test('without a query timeout (the CLI) a slow statement is left to finish', async () => {
  const conn = connect(viaProxy, { poolSize: 1 });
  try {
    const slow = await settle(sql`SELECT pg_sleep(${(TIMEOUT_MS * 2) / 1000})`.execute(conn.db));
    expect(slow.error).toBeUndefined();
  } finally {
    await conn.close();
  }
});

describe('the change listener', () => {
  test('takes a silent connection for lost (reset, caches bypassed), reconnects, and hears changes again', async () => {
    const events: ChangeEvent['kind'][] = [];
    const listener = new ChangeListener(viaProxy, (e) => events.push(e.kind), undefined, undefined, { heartbeatMs: 100, timeoutMs: TIMEOUT_MS });
    const direct = connect(db.url, { poolSize: 1 });
    try {
      listener.start();
      await waitFor('the listener to go live', async () => (listener.live ? true : undefined));
      events.length = 0;
      proxy.strandOpenConnections();
      await waitFor('the listener to notice', async () => (!listener.live ? true : undefined), 5000);
      expect(events).toEqual(['reset']);
      await waitFor('the listener to be live again', async () => (listener.live ? true : undefined), 5000);
      await sql`SELECT pg_notify('radotp_changes', 'user:alice')`.execute(direct.db);
      await waitFor('the notification', async () => (events.includes('user') ? true : undefined), 5000);
      expect(events).toEqual(['reset', 'reset', 'user']);
    } finally {
      await listener.stop();
      await direct.close();
    }
  });
});
