import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Attr, Code } from '../../src/radius/types';
import { SPEND_LOCK_WAIT_MS } from '../../src/store/connect';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import { attr, authenticate } from '../support/radius-client';
import { ServeProcess, waitFor } from '../support/serve-process';
import { startTestServer, TEST_SECRET, testConfig, type TestServer } from '../support/server';

/*
 * Any node finishes a login another node started. Here the answer to a challenge reaches node A, which takes
 * the challenge and, while its code is being spent, stops deciding: killed (`kill -9`), or its database
 * connections terminated. The NAS hears nothing and fails over to node B with the same State and code: B must
 * find the challenge and accept the code, and the code is spent once. A challenge consumed by an answer that
 * was never decided used to be lost with the node (the NAS got a Reject, challenge_expired).
 *
 * Node A is held at that point deterministically: the test locks a row A needs (the challenge's, so that A's
 * take waits; the token's, so that A's spend waits), and A is stopped once PostgreSQL shows it waiting on that
 * lock. (A node killed while its spend is already on its way leaves the code spent: the retry is a replay.)
 */
const PASSWORD = 'walt-password';

describe('a node that took a challenge and stopped before deciding: the NAS retries on another node', () => {
  let b: TestServer;
  let dirA: string;
  /** Holds the lock; `observer` watches (a transaction sees pg_stat_activity as it was when it first looked). */
  let direct: pg.Client;
  let observer: pg.Client;
  const seed = randomSeed();
  let counter = 0;

  beforeAll(async () => {
    b = await startTestServer({ users: [{ username: 'walt', password: PASSWORD, method: 'token' }], config: { node: { name: 'node-b' } } });
    const walt = await b.store.users.get('walt');
    await b.store.tokens.create({ serial: 'HOTP-WALT', userId: walt.id, origin: 'software', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed });
    dirA = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-taker-'));
    direct = new pg.Client({ connectionString: b.cfg.database.url!, application_name: 'radotp-test-direct' });
    observer = new pg.Client({ connectionString: b.cfg.database.url!, application_name: 'radotp-test-observer' });
    await Promise.all([direct.connect(), observer.connect()]);
  });
  afterAll(async () => {
    await direct?.end();
    await observer?.end();
    await b?.close();
    fs.rmSync(dirA, { recursive: true, force: true });
  });

  async function startNodeA(name: string): Promise<{ serve: ServeProcess; port: number }> {
    const { file } = testConfig(fs.mkdtempSync(path.join(dirA, `${name}-`)), b.cfg.database.url!, {
      keyFile: b.cfg.keyFilePath,
      node: { name },
      radius: { listen: ['127.0.0.1:0'] },
      http: { listen: null },
      log: { level: 'info' },
    });
    const serve = ServeProcess.start(file);
    await serve.serving();
    const port = (JSON.parse(serve.output.split('\n').find((l) => l.includes('"radotp serving"'))!) as { radius: { port: number }[] }).radius[0]!.port;
    return { serve, port };
  }

  const backendsOf = async (node: string, where = 'true') =>
    (await observer.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1 AND ${where}`, [`radotp-serve@${node}%`])).rows;

  // [how node A stops deciding, the row it is held on, what is done to it]
  const cases: [string, 'challenge' | 'token', (a: { serve: ServeProcess; node: string }) => Promise<void>][] = [
    [
      'is killed (kill -9) while it takes the challenge',
      'challenge',
      async ({ serve }) => {
        serve.child.kill('SIGKILL');
        await serve.exited;
      },
    ],
    [
      'has its database connections terminated while it spends the code',
      'token',
      async ({ node }) => {
        // A spend waits for the row SPEND_LOCK_WAIT_MS on a connection of the spend pool, then goes on alone on
        // another (see SpendBatcher). Cut once, the spend could already have moved to a connection opened after the
        // list was read, and it took the row when the test let go of it: A answered. Cut until no connection of A has
        // waited for the row through a few of those waits.
        for (let quietRounds = 0; quietRounds < 3; ) {
          for (const { pid } of await backendsOf(node)) await observer.query('SELECT pg_terminate_backend($1)', [pid]);
          await new Promise((r) => setTimeout(r, SPEND_LOCK_WAIT_MS));
          quietRounds = (await backendsOf(node, "wait_event_type = 'Lock'")).length > 0 ? 0 : quietRounds + 1;
        }
      },
    ],
  ];

  test.each(cases)('node A %s: node B accepts the code, spent once', async (_case, held, stop) => {
    const node = `node-a-${counter}`;
    const a = await startNodeA(node);
    try {
      const first = await authenticate(b.port, { username: 'walt', password: PASSWORD, secret: TEST_SECRET });
      expect(first?.code).toBe(Code.AccessChallenge);
      const state = attr(first!, Attr.State)!;
      const code = hotpForCounter(seed, counter);

      await direct.query('BEGIN');
      if (held === 'challenge') await direct.query('SELECT 1 FROM challenge WHERE state = $1 FOR UPDATE', [state]);
      else await direct.query("SELECT 1 FROM token WHERE serial = 'HOTP-WALT' FOR UPDATE");
      const onA = authenticate(a.port, { username: 'walt', password: code, state, secret: TEST_SECRET, timeoutMs: 3000 });
      await waitFor(`node A to wait for the ${held} row`, async () => ((await backendsOf(node, "wait_event_type = 'Lock'")).length > 0 ? true : undefined));
      await stop({ serve: a.serve, node });
      await direct.query('ROLLBACK');
      expect(await onA).toBeNull();

      // the NAS's failover: the same answer, to node B
      const onB = await authenticate(b.port, { username: 'walt', password: code, state, secret: TEST_SECRET });
      expect(onB?.code).toBe(Code.AccessAccept);
      expect((await b.store.tokens.get('HOTP-WALT')).nextCounter).toBe(BigInt(counter + 1));
      // and the State is used up now
      expect((await authenticate(b.port, { username: 'walt', password: hotpForCounter(seed, counter + 1), state, secret: TEST_SECRET }))?.code).toBe(Code.AccessReject);
    } finally {
      await direct.query('ROLLBACK').catch(() => {});
      counter += 2;
      if (a.serve.child.exitCode === null && a.serve.child.signalCode === null) await a.serve.terminate();
    }
  }, 60_000);
});
