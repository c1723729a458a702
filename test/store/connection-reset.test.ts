import { sql } from 'kysely';
import { connect, isDatabaseUnavailable, type Connection } from '../../src/store/connect';
import { PluggableProxy } from '../support/pluggable-proxy';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A connection reset while a query runs on it (a failover, a firewall dropping the flow, a proxy or pooler
 * restarting) must fail that query and nothing more. pg also emits 'error' on the client then, and a client
 * in use has no listener of the pool's: unheard, that event ended the whole server process.
 */
let db: TestDatabase;
let proxy: PluggableProxy;

beforeAll(async () => {
  db = await createTestDatabase();
  const target = new URL(db.url);
  proxy = await PluggableProxy.start({ host: target.hostname, port: Number(target.port) });
});

afterAll(async () => {
  await proxy.close();
  await db.drop();
});

/** Resets (RST, not FIN) every connection through the proxy once `ms` have passed; new ones go through again. */
async function resetAllAfter(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  proxy.pullPlug();
  proxy.restore();
}

/** A query on a client checked out of the audit pool and given back, as pg-pool's users do by hand. */
async function onAuditClient(c: Connection, text: string): Promise<unknown> {
  const client = await c.auditPool.connect();
  try {
    return await client.query(text);
  } finally {
    client.release();
  }
}

describe.each([
  { pool: 'the main pool (kysely)', run: (c: Connection, text: string): Promise<unknown> => sql.raw(text).execute(c.db) },
  { pool: 'the audit pool (a client checked out)', run: onAuditClient },
])('$pool', ({ run }) => {
  let conn: Connection;

  beforeAll(() => {
    const url = new URL(db.url);
    url.port = String(proxy.port);
    conn = connect(url.toString(), { poolSize: 2 });
  });
  afterAll(() => conn.close());

  test('a reset under a running query fails that query as "database unavailable", and the next query works', async () => {
    const running = run(conn, 'SELECT pg_sleep(2)').then(
      () => undefined,
      (e: unknown) => e,
    );
    await resetAllAfter(300);
    const error = await running;
    expect(error).toBeDefined();
    expect(isDatabaseUnavailable(error)).toBe(true);
    // the process is still here, and the pool has let the broken client go
    await expect(run(conn, 'SELECT 1 AS one')).resolves.toBeDefined();
  });
});

/*
 * opts.onConnect says the database answers again ('database connections open again' after an outage). A pool
 * with session settings (the audit pool's SET synchronous_commit) runs them on a new connection before its first
 * use; when that was pg-pool's verify, pg-pool's 'connect' event came before it, and a connection lost or refused
 * while being set up was told as open again. (Now pg-pool's onConnect, after which 'connect' comes.)
 */
describe('onConnect, for a pool whose connections are set up with a SET (the audit pool)', () => {
  let conn: Connection;
  let connected = 0;

  beforeAll(() => {
    const url = new URL(db.url);
    url.port = String(proxy.port);
    conn = connect(url.toString(), { poolSize: 2, onConnect: () => connected++ });
  });
  afterAll(async () => {
    proxy.cutWhenSent(undefined);
    await conn.close();
  });

  test('a connection whose SET fails is not told as open; one set up is, once', async () => {
    proxy.cutWhenSent('SET synchronous_commit');
    await expect(onAuditClient(conn, 'SELECT 1')).rejects.toThrow(/ECONNRESET/); // at the checkout: the SET runs before the connection is handed over
    expect(connected).toBe(0);

    proxy.cutWhenSent(undefined);
    await expect(onAuditClient(conn, "SELECT current_setting('synchronous_commit') AS s")).resolves.toMatchObject({ rows: [{ s: 'off' }] });
    expect(connected).toBe(1);
  });
});
