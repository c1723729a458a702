import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashPassword } from '../../src/auth/password-hash';
import { Attr, Code } from '../../src/radius/types';
import { openStore, type Store } from '../../src/store/open';
import { cliEnv, RADOTP_BIN } from '../support/cli';
import { currentStep, hotpForCounter, hotpCodesBetween, randomSeed, totpForStep, wrongCode } from '../support/otp-codes';
import { attr, authenticate, type Answer } from '../support/radius-client';
import { startTestServer, TEST_SECRET, testConfig, type TestServer } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A cluster is several nodes on one PostgreSQL. A one-time code must be accepted once by the cluster, not
 * once per node: the compare-and-advance is one UPDATE, so two nodes receiving the same code at the same
 * instant race on the row and exactly one wins. Here the nodes are real `radotp serve` processes.
 */

/** How many copies of each code every node receives at once (from different source ports: not retransmissions). */
const COPIES_PER_NODE = 3;
const ROUNDS = 40;

interface ServeProcess {
  readonly name: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts `radotp serve` with its own config file; resolves once it logged the RADIUS port it bound. */
function startServeProcess(name: string, configFile: string): Promise<ServeProcess> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [RADOTP_BIN, 'serve'], {
    env: cliEnv({ RADOTP_CONFIG: configFile }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} did not start in time; it printed:\n${output}`));
    }, 30_000);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      output += d;
      // pino writes one JSON object per line; the start-up line names the bound RADIUS sockets
      const line = output.split('\n').find((l) => l.includes('"radotp serving"'));
      if (!line) return;
      clearTimeout(timer);
      const port = (JSON.parse(line) as { radius: { port: number }[] }).radius[0].port;
      output = ''; // per-request log lines keep coming; do not hoard them
      resolve({ name, port, stop });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before serving:\n${output}`));
    });
  });
}

/** The same Access-Request sent at the same instant to every node, COPIES_PER_NODE times each. */
async function race(nodes: readonly ServeProcess[], username: string, code: string): Promise<(Answer | null)[]> {
  const sends = nodes.flatMap((n) =>
    Array.from({ length: COPIES_PER_NODE }, () => authenticate(n.port, { username, password: code, secret: TEST_SECRET, timeoutMs: 10_000 })),
  );
  return Promise.all(sends);
}

function tally(answers: readonly (Answer | null)[]) {
  return {
    accepts: answers.filter((a) => a?.code === Code.AccessAccept).length,
    rejects: answers.filter((a) => a?.code === Code.AccessReject).length,
    unanswered: answers.filter((a) => a === null).length,
  };
}

/**
 * A user's audit trail in decision order. Each node writes its events in batches of its own, so row ids
 * interleave the nodes by flush time; `at` is when the decision was made.
 */
async function auditOf(store: Store, username: string, expectedCount: number) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const rows = await store.audit.recent({ username, limit: 10_000 });
    if (rows.length >= expectedCount || Date.now() > deadline) return rows.sort((x, y) => x.at.getTime() - y.at.getTime() || Number(x.id - y.id));
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('two `radotp serve` processes on one database racing the same code', () => {
  let db: TestDatabase;
  let root: string;
  let store: Store;
  let nodes: ServeProcess[] = [];
  // RFC 4226's look-ahead (10 by default) accepts a code of a later counter as well: a seed for which the code
  // of counter n equals one of n+1..n+10 (about 1 in 2,500 seeds over 40 rounds) would rightly move the
  // counter past several rounds at once, and this test would count that as a double accept. Use one without.
  const hotpSeed = seedWithDistinctCodes(ROUNDS + 10);
  const totpSeeds = Array.from({ length: ROUNDS }, () => randomSeed());
  const totpUser = (i: number) => `totp-user-${String(i).padStart(2, '0')}`;

  beforeAll(async () => {
    db = await createTestDatabase();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-cluster-'));
    const keyFile = path.join(root, 'shared', 'master.key');
    fs.mkdirSync(path.dirname(keyFile)); // the first node creates the key file, not its folder
    // Each node its own config and data folder; the same database and the same key file.
    const configOf = (name: string) => {
      const dir = path.join(root, name);
      fs.mkdirSync(dir);
      return testConfig(dir, db.url, {
        keyFile,
        node: { name },
        radius: { listen: ['127.0.0.1:0'] },
        http: { listen: null },
        log: { level: 'info' },
        database: { poolSize: 10 },
      });
    };
    const a = configOf('node-a');
    const b = configOf('node-b');

    store = await openStore(a.cfg, { createKey: true, migrate: true, poolSize: 4 });
    await store.clients.add({ name: 'nas', address: '127.0.0.1', secret: Buffer.from(TEST_SECRET), requireMessageAuthenticator: true, loginStyle: 'otp-only' });
    const hotpUser = await store.users.add({ username: 'hotp-user', passwordHash: await hashPassword('unused'), method: 'token' });
    await store.tokens.create({ serial: 'HOTP-RACE', userId: hotpUser.id, origin: 'software', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed: hotpSeed });
    for (let i = 0; i < ROUNDS; i++) {
      const u = await store.users.add({ username: totpUser(i), passwordHash: null, method: 'token' });
      await store.tokens.create({ serial: `TOTP-RACE-${i}`, userId: u.id, origin: 'software', kind: 'totp', state: 'active', algorithm: 'sha1', digits: 6, seed: totpSeeds[i] });
    }
    // allSettled: when one node fails to start, the other must still be stopped in afterAll
    const started = await Promise.allSettled([startServeProcess('node-a', a.file), startServeProcess('node-b', b.file)]);
    nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    for (const r of started) if (r.status === 'rejected') throw r.reason;
  }, 90_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await store?.close();
    await db?.drop();
  });

  test('both nodes answer a login (the cluster is up, and a wrong code is rejected by each)', async () => {
    const wrong = wrongCode(hotpCodesBetween(hotpSeed, 0, 20));
    const answers = await Promise.all(nodes.map((n) => authenticate(n.port, { username: 'hotp-user', password: wrong, secret: TEST_SECRET, timeoutMs: 10_000 })));
    expect(answers.map((a) => a?.code)).toEqual([Code.AccessReject, Code.AccessReject]);
    // the wrong attempts are undone by the first accept below (a success resets the failure count)
  });

  test(`HOTP: ${ROUNDS} consecutive counters, each sent to both nodes at once: exactly one Access-Accept per code`, async () => {
    const perRound: ReturnType<typeof tally>[] = [];
    for (let counter = 0; counter < ROUNDS; counter++) {
      perRound.push(tally(await race(nodes, 'hotp-user', hotpForCounter(hotpSeed, counter))));
    }
    const expected = { accepts: 1, rejects: 2 * COPIES_PER_NODE - 1, unanswered: 0 };
    expect(perRound).toEqual(Array.from({ length: ROUNDS }, () => expected));
    expect((await store.tokens.get('HOTP-RACE')).nextCounter).toBe(BigInt(ROUNDS));

    // The audit trail agrees: one code_ok per counter, every loser a replay, from both nodes' points of view.
    // (plus the two bad_code events of the first test)
    const rows = await auditOf(store, 'hotp-user', 2 + ROUNDS * 2 * COPIES_PER_NODE);
    const reasons = rows.reduce<Record<string, number>>((n, r) => ({ ...n, [r.reason]: (n[r.reason] ?? 0) + 1 }), {});
    expect(reasons).toEqual({ bad_code: 2, code_ok: ROUNDS, replay: ROUNDS * (2 * COPIES_PER_NODE - 1) });
    expect(new Set(rows.map((r) => r.node))).toEqual(new Set(['node-a', 'node-b']));
  });

  test(`TOTP: ${ROUNDS} users' current codes, all sent to both nodes at once: exactly one Access-Accept per user`, async () => {
    const step = currentStep();
    const results = await Promise.all(totpSeeds.map((seed, i) => race(nodes, totpUser(i), totpForStep(seed, step))));
    expect(results.map(tally)).toEqual(Array.from({ length: ROUNDS }, () => ({ accepts: 1, rejects: 2 * COPIES_PER_NODE - 1, unanswered: 0 })));
    for (let i = 0; i < ROUNDS; i++) expect((await store.tokens.get(`TOTP-RACE-${i}`)).lastStep).toBe(BigInt(step));
  });
});

describe('a challenge issued by one node, answered on another', () => {
  let a: TestServer;
  let b: TestServer;
  const seed = randomSeed();
  let nextCounter = 0;
  const nextCode = () => hotpForCounter(seed, nextCounter++);
  const PASSWORD = 'walt-password';

  beforeAll(async () => {
    // challengeTtl 2 s: long enough for the cross-node answers (milliseconds), short for the expiry test
    const config = (name: string) => ({ node: { name }, auth: { challengeTtl: 2 } });
    a = await startTestServer({ users: [{ username: 'walt', password: PASSWORD, method: 'token' }, { username: 'ida', password: 'ida-password', method: 'token' }], config: config('node-a') });
    b = await startTestServer({ database: { url: a.cfg.database.url! }, dir: a.dir, config: config('node-b') });
    const walt = await a.store.users.get('walt');
    await a.store.tokens.create({ serial: 'HOTP-WALT', userId: walt.id, origin: 'software', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed });
    const ida = await a.store.users.get('ida');
    await a.store.tokens.create({ serial: 'HOTP-IDA', userId: ida.id, origin: 'software', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomSeed() });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  async function challengeFrom(server: TestServer): Promise<Buffer> {
    const first = await authenticate(server.port, { username: 'walt', password: PASSWORD, secret: TEST_SECRET });
    expect(first?.code).toBe(Code.AccessChallenge);
    return attr(first!, Attr.State)!;
  }

  const answer = (server: TestServer, state: Buffer, code: string, username = 'walt') =>
    authenticate(server.port, { username, password: code, state, secret: TEST_SECRET });

  test('the State from node A is accepted by node B, and the audit trail names both nodes', async () => {
    const state = await challengeFrom(a);
    expect((await answer(b, state, nextCode()))?.code).toBe(Code.AccessAccept);
    const rows = await auditOf(a.store, 'walt', 2);
    expect(rows.map((r) => [r.node, r.reason])).toEqual([
      ['node-a', 'password_ok'],
      ['node-b', 'code_ok'],
    ]);
  });

  test('a challenge is single-use: answering it again (on the issuing node) is rejected as challenge_expired', async () => {
    const state = await challengeFrom(b);
    expect((await answer(a, state, nextCode()))?.code).toBe(Code.AccessAccept);
    expect((await answer(b, state, nextCode()))?.code).toBe(Code.AccessReject);
    // walt's trail so far: 2 events from the first test, 3 from this one
    expect((await auditOf(a.store, 'walt', 5)).slice(-3).map((r) => [r.node, r.reason])).toEqual([
      ['node-b', 'password_ok'],
      ['node-a', 'code_ok'],
      ['node-b', 'challenge_expired'],
    ]);
  });

  test('the same answer reaching both nodes at once is accepted once', async () => {
    for (let round = 0; round < 10; round++) {
      const state = await challengeFrom(round % 2 ? a : b);
      const code = nextCode();
      const answers = await Promise.all([answer(a, state, code), answer(b, state, code)]);
      expect(answers.map((x) => x?.code).sort()).toEqual([Code.AccessAccept, Code.AccessReject].sort());
    }
  });

  test("a State issued for one user does not let another user in, nor spoil the user's own answer", async () => {
    const state = await challengeFrom(a);
    expect((await answer(b, state, nextCode(), 'ida'))?.code).toBe(Code.AccessReject);
    expect((await auditOf(a.store, 'ida', 1)).map((r) => r.reason)).toEqual(['challenge_user_mismatch']);
    // the mismatched request consumed nothing: walt's answer still finds his challenge
    expect((await answer(a, state, nextCode()))?.code).toBe(Code.AccessAccept);
  });

  test('a challenge answered after auth.challengeTtl is rejected as challenge_expired', async () => {
    const state = await challengeFrom(a);
    await new Promise((r) => setTimeout(r, 2500));
    const code = nextCode();
    expect((await answer(b, state, code))?.code).toBe(Code.AccessReject);
    // 5 events before, 30 from the ten races (challenge, accept, reject), 2 in ida's test (challenge, accept), 2 here
    const rows = await auditOf(a.store, 'walt', 39);
    expect(rows).toHaveLength(39);
    expect(rows.at(-1)).toMatchObject({ node: 'node-b', reason: 'challenge_expired' });
    // the code itself was not spent by the expired attempt: a fresh challenge takes it
    expect((await answer(a, await challengeFrom(b), code))?.code).toBe(Code.AccessAccept);
  });
});

/** A random HOTP seed whose codes for counters 0..last are all different (see the HOTP race above). */
function seedWithDistinctCodes(last: number): Buffer {
  for (;;) {
    const seed = randomSeed();
    if (new Set(hotpCodesBetween(seed, 0, last)).size === last + 1) return seed;
  }
}
