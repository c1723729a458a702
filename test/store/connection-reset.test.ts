import net from 'node:net';
import { sql } from 'kysely';
import { connect, isDatabaseUnavailable, type Connection } from '../../src/store/connect';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A connection reset while a query runs on it (a failover, a firewall dropping the flow, a proxy or pooler
 * restarting) must fail that query and nothing more. pg also emits 'error' on the client then, and a client
 * in use has no listener of the pool's: unheard, that event ended the whole server process.
 */
let db: TestDatabase;
let proxy: net.Server;
let proxyPort: number;
const open = new Set<net.Socket>();

beforeAll(async () => {
  db = await createTestDatabase();
  const target = new URL(db.url);
  proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => client.write(d));
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyPort = (proxy.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const s of open) s.destroy();
  await new Promise((resolve) => proxy.close(resolve));
  await db.drop();
});

/** Resets (RST, not FIN) every connection through the proxy once `ms` have passed. */
function resetAllAfter(ms: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(() => {
      for (const s of open) s.resetAndDestroy();
      resolve();
    }, ms),
  );
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
  const poolErrors: string[] = [];

  beforeAll(() => {
    const url = new URL(db.url);
    url.port = String(proxyPort);
    conn = connect(url.toString(), { poolSize: 2, onError: (e) => poolErrors.push(e.message) });
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
