import { Attr, Code, type RawAttribute } from '../../src/radius/types';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import { authenticate, type Answer } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricOf } from '../support/metrics';

/*
 * RFC 2865 §5.33: Proxy-State "MUST" come back unmodified in the reply, and §3: a reply holds at most 4096
 * octets. A request whose Proxy-State leaves too little room for the largest reply radotp can make is dropped
 * before anything is decided: no code spent, no challenge issued, no audit row; the NAS's next attempt, with
 * room, is decided as if the first had never come.
 */
const seed = randomSeed();
const code = (counter: number) => hotpForCounter(seed, counter, { algorithm: 'sha1', digits: 6 });
const PASSWORD = 'tom-password';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    clients: [{ name: 'nas', address: '127.0.0.1', loginStyle: 'otp-only' }],
    users: [{ username: 'tom', password: PASSWORD, method: 'token' }],
  });
  const tom = (await t.store.users.get('tom')).id;
  await t.store.tokens.create({ serial: 'H-TOM', userId: tom, origin: 'software', state: 'active', algorithm: 'sha1', digits: 6, kind: 'hotp', seed });
});
afterAll(() => t?.close());

/** Proxy-States of 250 octets each, as many as keep the request (User-Name, User-Password and Message-Authenticator) within 4096 octets. */
function nearlyFourKilobytes(): RawAttribute[] {
  const own = 20 + 18 + (2 + 'tom'.length) + (2 + 16);
  return Array.from({ length: Math.floor((4096 - own) / 252) }, (_, i) => ({ type: Attr.ProxyState, value: Buffer.alloc(250, i) }));
}
const LITTLE: RawAttribute[] = [{ type: Attr.ProxyState, value: Buffer.from('hop-1') }];

async function lastId(): Promise<string> {
  const r = await t.store.db.selectFrom('audit_event').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return String(r?.id ?? 0);
}

async function rowsSince(id: string): Promise<{ result: string; reason: string }[]> {
  await new Promise((r) => setTimeout(r, 200)); // the batch writer writes every 50 ms
  return t.store.db.selectFrom('audit_event').select(['result', 'reason']).where('id', '>', id as never).orderBy('id').execute();
}

async function tooLargeDrops(): Promise<number> {
  return (await metricOf(t, 'radotp_dropped_total', 'reason="reply_too_large"')) ?? 0;
}

const proxyStates = (a: Answer | null) => (a?.attributes ?? []).filter((x) => x.type === Attr.ProxyState).map((x) => x.value.toString('hex'));

// [login style, what the user types, the reply and audit row it gets with room for the reply]
const cases: ['otp-only' | 'challenge', string, number, { result: string; reason: string }][] = [
  ['otp-only', code(0), Code.AccessAccept, { result: 'accept', reason: 'code_ok' }],
  ['challenge', PASSWORD, Code.AccessChallenge, { result: 'challenge', reason: 'password_ok' }],
];

test.each(cases)('%s, %s: near 4 KB of Proxy-State is dropped undecided; a little is answered and echoed', async (style, typed, replyCode, row) => {
  await t.store.clients.update('nas', { loginStyle: style });
  await new Promise((r) => setTimeout(r, 700)); // radius.clientRefresh is 0.2 s in tests
  const dropsBefore = await tooLargeDrops();
  const before = await lastId();
  const big = await authenticate(t.port, { username: 'tom', password: typed, secret: TEST_SECRET, extra: nearlyFourKilobytes(), timeoutMs: 1000 });
  expect(big).toBeNull();
  expect(await rowsSince(before)).toEqual([]);
  expect(await tooLargeDrops()).toBe(dropsBefore + 1);
  // the same code (or password), with room for the reply: decided now, as if the first had never come
  const small = await authenticate(t.port, { username: 'tom', password: typed, secret: TEST_SECRET, extra: LITTLE, timeoutMs: 3000 });
  expect(small?.code).toBe(replyCode);
  expect(proxyStates(small)).toEqual([Buffer.from('hop-1').toString('hex')]);
  expect(await rowsSince(before)).toEqual([row]);
});
