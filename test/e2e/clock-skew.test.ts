import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Code } from '../../src/radius/types';
import { openStore, type Store } from '../../src/store/open';
import { cliEnv, RADOTP_BIN } from '../support/cli';
import { randomSeed, totpForStep } from '../support/otp-codes';
import { authenticate } from '../support/radius-client';
import { TEST_SECRET, testConfig } from '../support/server';
import { ServeProcess } from '../support/serve-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * Two `radotp serve` nodes on one PostgreSQL whose wall clocks differ: node B's Date.now runs one TOTP step
 * behind node A's and the database's (a preload shifts it). The token's steps are 5 s long (PSKC allows any
 * TimeInterval), so "one step" is 5 s of skew and the test takes a few steps, not minutes.
 * What an operator expects: the cluster decides a code as one server would. A code spent on A is a replay
 * on B; the next step's code is accepted on B; and a login on B must not shift the window A uses for the
 * next login (a drift learnt against B's clock, applied to A's, left a phone one step behind out of reach).
 */

const PERIOD = 5;
const SKEW_MS = -PERIOD * 1000;
const params = { algorithm: 'sha1' as const, digits: 6, period: PERIOD };

/** Waits until the true clock is at least 1 s into a step and 2 s before its end; returns that step. */
async function midStep(atLeast = 0): Promise<number> {
  for (;;) {
    const now = Date.now() / 1000;
    const step = Math.floor(now / PERIOD);
    const into = now - step * PERIOD;
    if (step >= atLeast && into >= 1 && into <= PERIOD - 2) return step;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function portOf(node: ServeProcess): number {
  const line = node.output.split('\n').find((l) => l.includes('"radotp serving"'))!;
  return (JSON.parse(line) as { radius: { port: number }[] }).radius[0]!.port;
}

describe('two nodes whose clocks differ by one TOTP step', () => {
  let db: TestDatabase;
  let root: string;
  let store: Store;
  const nodes: ServeProcess[] = [];
  const seed = randomSeed();
  const send = (node: ServeProcess, code: string) => authenticate(portOf(node), { username: 'skewed', password: code, secret: TEST_SECRET, timeoutMs: 10_000 });

  beforeAll(async () => {
    db = await createTestDatabase();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-skew-'));
    const keyFile = path.join(root, 'master.key');
    const preload = path.join(root, 'skew.js');
    fs.writeFileSync(preload, `const real = Date.now; Date.now = () => real() + ${SKEW_MS};\n`);
    const configOf = (name: string) => {
      const dir = path.join(root, name);
      fs.mkdirSync(dir);
      return testConfig(dir, db.url, { keyFile, node: { name }, radius: { listen: ['127.0.0.1:0'] }, http: { listen: null }, log: { level: 'info' } });
    };
    const a = configOf('node-a');
    const b = configOf('node-b');
    store = await openStore(a.cfg, { createKey: true, migrate: true, poolSize: 2 });
    await store.clients.add({ name: 'nas', address: '127.0.0.1', secret: Buffer.from(TEST_SECRET), requireMessageAuthenticator: true, loginStyle: 'otp-only' });
    const u = await store.users.add({ username: 'skewed', passwordHash: null, method: 'token' });
    await store.tokens.create({ serial: 'TOTP-SKEW', userId: u.id, origin: 'hardware', kind: 'totp', state: 'active', algorithm: 'sha1', digits: 6, period: PERIOD, seed });
    nodes.push(ServeProcess.spawn([process.execPath, RADOTP_BIN, 'serve', '--config', a.file], cliEnv()));
    nodes.push(ServeProcess.spawn([process.execPath, RADOTP_BIN, 'serve', '--config', b.file], cliEnv({ NODE_OPTIONS: `--require ${preload}` })));
    await Promise.all(nodes.map((n) => n.serving()));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.terminate()));
    await store?.close();
    await db?.drop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('a code spent on one node is a replay on the other; after a login on B, A still takes a code one step behind', async () => {
    const [a, b] = nodes as [ServeProcess, ServeProcess];
    const n = await midStep();
    expect((await send(a, totpForStep(seed, n, params)))?.code).toBe(Code.AccessAccept);
    expect((await send(b, totpForStep(seed, n, params)))?.code).toBe(Code.AccessReject); // replay, whatever B's clock says

    const next = await midStep(n + 1);
    expect((await send(b, totpForStep(seed, next, params)))?.code).toBe(Code.AccessAccept); // not refused for B's clock
    expect((await send(a, totpForStep(seed, next, params)))?.code).toBe(Code.AccessReject); // replay (A reads the row afresh)
    const drift = (await store.tokens.get('TOTP-SKEW')).drift;

    // a phone one step behind (or a code typed as it rolled over): RFC 6238 §5.2 allows one backward step
    const later = await midStep(next + 2);
    expect((await send(a, totpForStep(seed, later - 1, params)))?.code).toBe(Code.AccessAccept);
    expect(drift).toBe(0); // the phone kept time: B's login had no drift to learn
  }, 60_000);
});
