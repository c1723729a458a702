import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type Connection } from '../../src/store/connect';
import { UserRepository } from '../../src/store/users';
import { Code } from '../../src/radius/types';
import { PluggableProxy } from '../support/pluggable-proxy';
import { accessRequest, authenticate, sendRaw } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText } from '../support/metrics';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const PASSWORD = 'outage-test-password';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value of one Prometheus sample, e.g. metric('radotp_decisions_total', {result: 'fail'}); 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

/** A real server on a fresh database it reaches only through a proxy, plus a direct connection to check what was written. */
interface BehindProxy {
  readonly t: TestServer;
  readonly proxy: PluggableProxy;
  /** Straight to PostgreSQL, bypassing the proxy: what really got written. */
  readonly direct: Connection;
  close(): Promise<void>;
}

async function startBehindProxy(config: Record<string, unknown> = {}): Promise<BehindProxy> {
  const db: TestDatabase = await createTestDatabase();
  const { proxy, url: viaProxy } = await PluggableProxy.inFrontOf(db.url);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-outage-'));
  const t = await startTestServer({ dir, database: { url: viaProxy }, users: [{ username: 'alice', password: PASSWORD }, { username: 'bob', password: PASSWORD }], config });
  const direct = connect(db.url, { poolSize: 1 });
  return {
    t,
    proxy,
    direct,
    async close() {
      proxy.restore();
      await t.close();
      await direct.close();
      await proxy.close();
      await db.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('database outage and recovery (through a proxy whose plug we pull)', () => {
  let env: BehindProxy;
  let t: TestServer;
  let proxy: PluggableProxy;

  const login = (password = PASSWORD, username = 'alice') => authenticate(t.port, { username, password, secret: TEST_SECRET, timeoutMs: 1500 });
  const healthz = async () => (await fetch(`http://127.0.0.1:${t.httpPort}/healthz`)).status;
  /** RFC 5997 Status-Server: the reply's code, or null for no answer. */
  const statusServer = async () => (await sendRaw(accessRequest({ secret: TEST_SECRET, code: Code.StatusServer }).datagram, { port: t.port, timeoutMs: 500 }))?.[0] ?? null;
  const auditRows = (...reasons: string[]) =>
    env.direct.db.selectFrom('audit_event').select(['username', 'result', 'reason', 'at']).where('reason', 'in', reasons).orderBy('id').execute();

  beforeAll(async () => {
    env = await startBehindProxy();
    ({ t, proxy } = env);
  });
  afterAll(() => env?.close());

  // The steps share one server and one outage, so they run in order.
  let rejectsBefore = 0;
  let outage: { from: Date; to?: Date; requests: number } = { from: new Date(), requests: 0 };

  test('before: the right password is accepted, /healthz is 200, and the database really goes through the proxy', async () => {
    expect((await login())?.code).toBe(Code.AccessAccept);
    expect((await login('wrong'))?.code).toBe(Code.AccessReject);
    expect(await healthz()).toBe(200);
    expect(sample(await metricsText(t), 'radotp_database_up')).toBe(1);
    expect(proxy.connections).toBeGreaterThan(0);
    // the pools as they are: the logins above left connections open in the main pool, none waiting
    const text = await metricsText(t);
    expect(sample(text, 'radotp_database_connections', { pool: 'main', state: 'idle' }) + sample(text, 'radotp_database_connections', { pool: 'main', state: 'busy' })).toBeGreaterThan(0);
    expect(sample(text, 'radotp_database_pool_waiting', { pool: 'main' })).toBe(0);
    rejectsBefore = sample(await metricsText(t), 'radotp_requests_total', { result: 'Access-Reject' });
    expect(rejectsBefore).toBe(1);
    // Let those two decisions reach the audit table, so the backlog counted during the outage is the outage's alone.
    await waitFor('the audit trail to catch up', async () => ((await auditRows('bad_password', 'password_ok')).length === 2 ? true : undefined));
  });

  test('down: no answer at all (never a Reject), whatever the password or user', async () => {
    outage = { from: new Date(), requests: 0 };
    proxy.pullPlug();
    const attempts: [string, string][] = [
      ['alice', PASSWORD],
      ['alice', 'wrong'],
      ['nobody', 'x'],
      ['alice', PASSWORD],
    ];
    for (const [username, password] of attempts) {
      expect(await login(password, username)).toBeNull();
      outage.requests++;
    }
  });

  test('down: /healthz is 503 (from the 2 s check, so within seconds)', async () => {
    expect(await waitFor('/healthz 503', async () => ((await healthz()) === 503 ? 503 : undefined), 10_000)).toBe(503);
  });

  test('down: Status-Server goes unanswered too (a NAS probing with it sends its users elsewhere), and is counted', async () => {
    const before = sample(await metricsText(t), 'radotp_dropped_total', { reason: 'not_ready' });
    // the server notices within its check interval (2 s) plus the check's timeout
    await waitFor('Status-Server to go unanswered', async () => ((await statusServer()) === null ? true : undefined), 10_000);
    expect(await statusServer()).toBeNull();
    expect(sample(await metricsText(t), 'radotp_dropped_total', { reason: 'not_ready' }) - before).toBeGreaterThanOrEqual(2);
    // what an alert on /metrics needs: the state itself, not only the failures it causes
    expect(sample(await metricsText(t), 'radotp_database_up')).toBe(0);
  });

  test('down: metrics count the failed decisions and the audit events waiting', async () => {
    const text = await metricsText(t);
    expect(sample(text, 'radotp_decisions_total', { result: 'fail', reason: 'database_unavailable' })).toBe(outage.requests);
    expect(sample(text, 'radotp_requests_total', { result: 'Access-Reject' })).toBe(rejectsBefore);
    expect(sample(text, 'radotp_audit_backlog')).toBe(outage.requests);
    expect(await auditRows('database_unavailable')).toEqual([]);
  });

  test('back: the server recovers by itself and accepts the right password again, without a restart', async () => {
    outage.to = new Date();
    proxy.restore();
    const answer = await waitFor('an Access-Accept after the database came back', async () => {
      const a = await login();
      return a?.code === Code.AccessAccept ? a : undefined;
    });
    expect(answer.code).toBe(Code.AccessAccept);
    expect((await login('wrong'))?.code).toBe(Code.AccessReject); // deciding again, not just accepting
    expect(await waitFor('/healthz 200', async () => ((await healthz()) === 200 ? 200 : undefined))).toBe(200);
    expect(await waitFor('Status-Server answered again', async () => ((await statusServer()) === Code.AccessAccept ? true : undefined), 10_000)).toBe(true);
    expect(sample(await metricsText(t), 'radotp_database_up')).toBe(1);
  });

  test('before and after: Status-Server is answered while the database answers', async () => {
    expect(await statusServer()).toBe(Code.AccessAccept);
  });

  test('back: the decisions made during the outage reach the audit trail, once each, with their own time', async () => {
    const rows = await waitFor('the outage audit events', async () => {
      const r = await auditRows('database_unavailable');
      return r.length >= outage.requests ? r : undefined;
    });
    await sleep(1500); // past the writer's retry interval: a duplicate write would have shown up by now
    expect(await auditRows('database_unavailable')).toHaveLength(outage.requests);
    expect(rows.map((r) => [r.username, r.result])).toEqual([
      ['alice', 'fail'],
      ['alice', 'fail'],
      ['nobody', 'fail'],
      ['alice', 'fail'],
    ]);
    for (const r of rows) {
      expect(r.at.getTime()).toBeGreaterThanOrEqual(outage.from.getTime());
      expect(r.at.getTime()).toBeLessThanOrEqual(outage.to!.getTime());
    }
    expect(sample(await metricsText(t), 'radotp_audit_backlog')).toBe(0);
  });
});

describe('a database that stops answering without closing the connection', () => {
  let env: BehindProxy;
  beforeAll(async () => {
    env = await startBehindProxy();
  });
  afterAll(() => env?.close());

  test('requests get no answer, /healthz says 503 within seconds, and all is well once it answers again', async () => {
    const { t, proxy } = env;
    const healthz = async () => (await fetch(`http://127.0.0.1:${t.httpPort}/healthz`, { signal: AbortSignal.timeout(8000) })).status;
    expect((await authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET }))?.code).toBe(Code.AccessAccept);
    proxy.stall();
    try {
      expect(await authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 1500 })).toBeNull();
      // /healthz reads the health check, whose SELECT 1 is given 2 s: it says 503 rather than never answering.
      expect(await waitFor('/healthz 503', async () => ((await healthz()) === 503 ? 503 : undefined), 10_000)).toBe(503);
    } finally {
      proxy.restore();
    }
    const accepted = await waitFor('an Access-Accept once the database answers again', async () => {
      const a = await authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET });
      return a?.code === Code.AccessAccept ? a : undefined;
    });
    expect(accepted.code).toBe(Code.AccessAccept);
    expect(await waitFor('/healthz 200', async () => ((await healthz()) === 200 ? 200 : undefined), 10_000)).toBe(200);
  }, 60_000);
});

describe('a database host that vanished without a reset (a virtual IP moved to a standby)', () => {
  let env: BehindProxy;
  beforeAll(async () => {
    // A pool of two, both open when the host vanishes (as a busy node's whole pool would be).
    env = await startBehindProxy({ database: { queryTimeout: 1, poolSize: 2 } });
  });
  afterAll(() => env?.close());

  const login = (password: string, username = 'alice') => authenticate(env.t.port, { username, password, secret: TEST_SECRET, timeoutMs: 1500 });

  test('logins are answered again within seconds, not the kernel\'s 15 minutes, and the caches hear changes again', async () => {
    // two users: a node decides one login of a user at a time (see OneLoginPerUser), and both connections must be in use
    const burst = await Promise.all(Array.from({ length: 6 }, (_, i) => login(PASSWORD, i % 2 ? 'bob' : 'alice')));
    expect(burst.map((a) => a?.code)).toEqual(Array(6).fill(Code.AccessAccept));
    // Every connection open now (the pool's, the audit pool's, the change listener's) leads nowhere; new ones
    // reach the database. Each stranded connection is lost to one statement, which fails after queryTimeout.
    env.proxy.strandOpenConnections();
    const accepted = await waitFor(
      'an Access-Accept on fresh connections',
      async () => ((await login(PASSWORD))?.code === Code.AccessAccept ? true : undefined),
      20_000,
    );
    expect(accepted).toBe(true);
    // The change listener's old connection heard nothing and never will: unless the server noticed and
    // listens again, its cache would keep alice a `password` user after another node made her a `token`
    // user (who holds no token, so is refused).
    await new UserRepository(env.direct.db).update('alice', { method: 'token' });
    const changed = await waitFor(
      'the password alone refused',
      async () => ((await login(PASSWORD))?.code === Code.AccessReject ? true : undefined),
      20_000,
    );
    expect(changed).toBe(true);
  }, 60_000);
});
