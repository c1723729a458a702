import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashPassword } from '../../src/auth/password-hash';
import { verifyResponse } from '../../src/radius/codec';
import { Attr, Code } from '../../src/radius/types';
import { openStore, type Store } from '../../src/store/open';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import { accessRequest, attr, authenticate, sendRaw } from '../support/radius-client';
import { ServeProcess } from '../support/serve-process';
import { TEST_SECRET, testConfig } from '../support/server';
import { createTestDatabase } from '../support/test-database';

/*
 * Node A spends a login's code and its reply never reaches the NAS (A killed, or too slow for the NAS's
 * timeout); the NAS sends THE SAME packet to node B (RFC 5080 §2.2.2 expects it answered as the original
 * was). B's spend finds the code spent: it used to answer Access-Reject (replay) to a user who typed one
 * code once. Here both nodes are real `radotp serve` processes on one database; the NAS's failover is
 * the byte-identical datagram sent to B after A answered it.
 */
interface Node {
  readonly serve: ServeProcess;
  /** RADIUS ports: IPv4 (client "nas", otp-only) and IPv6 (client "nas6", challenge style). */
  readonly v4: number;
  readonly v6: number;
}

/** The code of the verified reply to `datagram` sent to `port`, or null when none came. */
async function replyCode(datagram: Buffer, port: number, host: string): Promise<number | null> {
  const raw = await sendRaw(datagram, { port, host, timeoutMs: 5000 });
  if (!raw) return null;
  expect(verifyResponse(raw, datagram.subarray(4, 20), Buffer.from(TEST_SECRET))).toBe(true);
  return raw[0]!;
}

describe('a login retransmitted by the NAS to another node of the cluster', () => {
  let root: string;
  let store: Store;
  let dbUrl: string;
  let dropDb: () => Promise<void>;
  const nodes: Node[] = [];
  const seed = randomSeed();
  let counter = 0;

  beforeAll(async () => {
    const db = await createTestDatabase();
    dbUrl = db.url;
    dropDb = db.drop;
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-retx-'));
    const keyFile = path.join(root, 'shared', 'master.key');
    fs.mkdirSync(path.dirname(keyFile));
    const configOf = (name: string) => {
      const dir = path.join(root, name);
      fs.mkdirSync(dir);
      return testConfig(dir, dbUrl, { keyFile, node: { name }, http: { listen: null }, log: { level: 'info' } });
    };
    const a = configOf('node-a');
    const b = configOf('node-b');
    store = await openStore(a.cfg, { createKey: true, migrate: true, poolSize: 2 });
    await store.clients.add({ name: 'nas', address: '127.0.0.1', secret: Buffer.from(TEST_SECRET), requireMessageAuthenticator: true, loginStyle: 'otp-only' });
    await store.clients.add({ name: 'nas6', address: '::1', secret: Buffer.from(TEST_SECRET), requireMessageAuthenticator: true, loginStyle: 'challenge' });
    const walt = await store.users.add({ username: 'walt', passwordHash: await hashPassword('walt-password'), method: 'token' });
    await store.tokens.create({ serial: 'HOTP-WALT', userId: walt.id, origin: 'software', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed });
    for (const file of [a.file, b.file]) {
      const serve = ServeProcess.start(file);
      await serve.serving();
      const line = serve.output.split('\n').find((l) => l.includes('"radotp serving"'))!;
      const bound = (JSON.parse(line) as { radius: { address: string; port: number }[] }).radius;
      nodes.push({ serve, v4: bound.find((s) => !s.address.includes(':'))!.port, v6: bound.find((s) => s.address.includes(':'))!.port });
    }
  }, 90_000);

  afterAll(async () => {
    for (const n of nodes) await n.serve.terminate();
    await store?.close();
    await dropDb?.();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** walt's audit reasons, oldest first, once `count` are written (each node writes its own in batches). */
  async function reasons(count: number): Promise<string[][]> {
    for (let tries = 0; ; tries++) {
      const rows = await store.audit.recent({ username: 'walt', limit: 1000 });
      if (rows.length >= count || tries > 50) return rows.sort((x, y) => x.at.getTime() - y.at.getTime() || Number(x.id - y.id)).map((r) => [r.node, r.reason]);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test('otp-only: the same packet to node A, then to node B, is accepted by both; a new packet with the code is a replay', async () => {
    const [a, b] = nodes;
    const code = hotpForCounter(seed, counter++);
    const { datagram } = accessRequest({ username: 'walt', password: code, secret: TEST_SECRET });
    expect(await replyCode(datagram, a!.v4, '127.0.0.1')).toBe(Code.AccessAccept);
    expect(await replyCode(datagram, b!.v4, '127.0.0.1')).toBe(Code.AccessAccept);
    // another Access-Request (a fresh Request Authenticator) with the same code, to either node: a replay
    for (const n of [a!, b!]) expect((await authenticate(n.v4, { username: 'walt', password: code, secret: TEST_SECRET }))?.code).toBe(Code.AccessReject);
    expect((await store.tokens.get('HOTP-WALT')).nextCounter).toBe(BigInt(counter));
    expect((await reasons(4)).slice(-4)).toEqual([
      ['node-a', 'code_ok'],
      ['node-b', 'retransmission'],
      ['node-a', 'replay'],
      ['node-b', 'replay'],
    ]);
  });

  test('challenge style: the answer, sent byte-identical to the other node after the first answered it, is accepted; a new answer with that State is not', async () => {
    const [a, b] = nodes;
    const first = await authenticate(a!.v6, { host: '::1', username: 'walt', password: 'walt-password', secret: TEST_SECRET });
    expect(first?.code).toBe(Code.AccessChallenge);
    const state = attr(first!, Attr.State)!;
    const code = hotpForCounter(seed, counter++);
    const { datagram } = accessRequest({ username: 'walt', password: code, state, secret: TEST_SECRET });
    expect(await replyCode(datagram, b!.v6, '::1')).toBe(Code.AccessAccept);
    // the challenge is used up by B's decision: A finds no challenge, and answers the retransmission as B did
    expect(await replyCode(datagram, a!.v6, '::1')).toBe(Code.AccessAccept);
    // a new packet answering that State, with the spent code or the next one: refused, and nothing spent
    for (const c of [code, hotpForCounter(seed, counter)]) {
      expect((await authenticate(a!.v6, { host: '::1', username: 'walt', password: c, state, secret: TEST_SECRET }))?.code).toBe(Code.AccessReject);
    }
    expect((await store.tokens.get('HOTP-WALT')).nextCounter).toBe(BigInt(counter));
    expect((await reasons(9)).slice(-5)).toEqual([
      ['node-a', 'password_ok'],
      ['node-b', 'code_ok'],
      ['node-a', 'retransmission'],
      ['node-a', 'challenge_expired'],
      ['node-a', 'challenge_expired'],
    ]);
  });
});
