import { Attr, Code } from '../../src/radius/types';
import { authenticate } from '../support/radius-client';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import { metricOf, metricsText, sampleIn } from '../support/metrics';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';

/**
 * The servers keep users and tokens in memory (src/store/auth-cache.ts). These tests pin down that the
 * cache never changes a decision: changes made elsewhere are seen at once (LISTEN/NOTIFY), and a cached
 * view that is behind the database (another node spent codes) still accepts the next good code.
 */
describe('auth cache across two nodes', () => {
  let a: TestServer;
  let b: TestServer;
  const seed = randomSeed();
  let userId: bigint;

  beforeAll(async () => {
    a = await startTestServer({ clients: [{ name: 'nas', address: '127.0.0.1', loginStyle: 'otp-only' }] });
    b = await startTestServer({ database: { url: a.cfg.database.url! }, dir: a.dir, clients: [{ name: 'nas', address: '127.0.0.1', loginStyle: 'otp-only' }] });
    const user = await a.store.users.add({ username: 'carol', passwordHash: null, method: 'token' });
    userId = user.id;
    await a.store.tokens.create({ serial: 'CACHE-1', userId, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed });
  });
  afterAll(async () => {
    await b?.server.stop();
    await b?.store.close();
    await a?.close();
  });

  const login = (t: TestServer, code: string) => authenticate(t.port, { username: 'carol', password: code, secret: TEST_SECRET });

  test('node B accepts the next code although node A moved the counter beyond B\'s cached window', async () => {
    expect((await login(b, hotpForCounter(seed, 0)))!.code).toBe(Code.AccessAccept); // B caches carol's token
    // A spends counters 1..15: B's cached next counter (1) plus look-ahead 10 no longer reaches 16
    for (let c = 1; c <= 15; c++) expect((await login(a, hotpForCounter(seed, c)))!.code).toBe(Code.AccessAccept);
    expect((await login(b, hotpForCounter(seed, 16)))!.code).toBe(Code.AccessAccept);
    // and a code A already spent is a replay on B, not an accept
    expect((await login(b, hotpForCounter(seed, 15)))!.code).toBe(Code.AccessReject);
  });

  test('/metrics counts the spends of the node that decided the login, one batch and one code for a lone login', async () => {
    const spends = async (t: TestServer) => {
      const text = await metricsText(t);
      const read = (name: string) => sampleIn(text, name) ?? NaN;
      return { batches: read('radotp_spend_batches_total'), codes: read('radotp_spend_codes_total'), seconds: read('radotp_spend_batch_seconds_total') };
    };
    const [aBefore, bBefore] = [await spends(a), await spends(b)];
    expect((await login(a, hotpForCounter(seed, 16)))!.code).toBe(Code.AccessReject); // B spent 16 above: a replay, still a spend sent
    expect((await login(a, hotpForCounter(seed, 17)))!.code).toBe(Code.AccessAccept);
    const [aAfter, bAfter] = [await spends(a), await spends(b)];
    expect(aAfter.batches - aBefore.batches).toBe(2);
    expect(aAfter.codes - aBefore.codes).toBe(2);
    expect(aAfter.seconds).toBeGreaterThan(aBefore.seconds);
    expect(bAfter).toEqual(bBefore);
  });

  test('a token disabled through the store is refused on both nodes at once (change notification)', async () => {
    expect((await login(a, hotpForCounter(seed, 18)))!.code).toBe(Code.AccessAccept);
    await a.store.tokens.update('CACHE-1', { state: 'disabled', disabled_reason: 'lost' });
    await new Promise((r) => setTimeout(r, 100)); // NOTIFY is delivered after commit
    expect((await login(b, hotpForCounter(seed, 19)))!.code).toBe(Code.AccessReject);
    expect((await login(a, hotpForCounter(seed, 20)))!.code).toBe(Code.AccessReject);
    await a.store.tokens.update('CACHE-1', { state: 'active', disabled_reason: null });
    await new Promise((r) => setTimeout(r, 100));
    expect((await login(b, hotpForCounter(seed, 21)))!.code).toBe(Code.AccessAccept);
  });

  test('a user removed on one node is unknown on the other at once', async () => {
    await a.store.users.add({ username: 'dave', passwordHash: null, method: 'token' });
    const dave = (await a.store.users.find('dave'))!;
    const daveSeed = randomSeed();
    await a.store.tokens.create({ serial: 'CACHE-2', userId: dave.id, origin: 'software', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed: daveSeed });
    const r1 = await authenticate(b.port, { username: 'dave', password: hotpForCounter(daveSeed, 0), secret: TEST_SECRET });
    expect(r1!.code).toBe(Code.AccessAccept);
    await a.store.users.remove('dave');
    await new Promise((r) => setTimeout(r, 100));
    const r2 = await authenticate(b.port, { username: 'dave', password: hotpForCounter(daveSeed, 1), secret: TEST_SECRET });
    expect(r2!.code).toBe(Code.AccessReject);
    expect(r2!.attributes.some((x) => x.type === Attr.ReplyMessage)).toBe(true);
  });
});

/**
 * auth.loginCache.maxUsers is the server's bound (it was hard-coded at 200,000): with room for one user, two
 * users logging in in turn push each other out, and each login reads the database again.
 */
describe('auth.loginCache.maxUsers', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      config: { auth: { loginCache: { maxUsers: 1 } } },
      users: [
        { username: 'erin', password: 'erin-password' },
        { username: 'frank', password: 'frank-password' },
      ],
    });
  });
  afterAll(() => t?.close());

  const lookups = async (result: string) => (await metricOf(t, 'radotp_login_cache_lookups_total', `result="${result}"`)) ?? 0;

  test('bounds the users kept', async () => {
    // The warm-up at start loads both users (keeping the last one); on a busy machine it could end after the
    // first login below and put frank back in, so that his login was a hit: wait for it first.
    for (let tries = 0; (await metricOf(t, 'radotp_login_cache_warmed')) !== 1 && tries < 100; tries++) await new Promise((r) => setTimeout(r, 100));
    const hitsBefore = await lookups('hit');
    for (const name of ['erin', 'frank', 'erin', 'frank']) {
      expect((await authenticate(t.port, { username: name, password: `${name}-password`, secret: TEST_SECRET }))!.code).toBe(Code.AccessAccept);
    }
    expect(await lookups('hit')).toBe(hitsBefore);
  });
});
