import { Attr, Code, type RawAttribute } from '../../src/radius/types';
import type { LoginStyle } from '../../src/store/schema';
import { runCli } from '../support/cli';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import { attr, authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';

/*
 * The auditor's walk: every outcome a login can have, in each login style, leaves exactly one audit row naming
 * the user, the client, the result, the reason and the token concerned, and `radotp audit --user U --json` shows it.
 * HOTP codes (counter n) so that no step boundary makes a case flaky. maxFailures 3: tom's token locks on his third
 * wrong code in a row (an accepted code starts the count again).
 */

const seed = randomSeed();
const code = (counter: number) => hotpForCounter(seed, counter, { algorithm: 'sha1', digits: 6 });
const PASSWORD = 'walk-password';

type Reply = 'accept' | 'reject' | 'challenge';
/** One login: in `style`, `user` types `typed` (after the password's challenge when `answer`), and the row expected. */
interface Step {
  readonly style: LoginStyle;
  readonly user: string;
  readonly typed: string;
  /** challenge style: typed answers the challenge the right password got first (its own row: password_ok) */
  readonly answer?: boolean;
  readonly reply: Reply;
  readonly reason: string;
  readonly token?: string;
}

// prettier-ignore
const STEPS: Step[] = [
  { style: 'challenge', user: 'zed', typed: PASSWORD,          reply: 'reject',    reason: 'unknown_user' },
  { style: 'challenge', user: 'tom', typed: 'wrong',           reply: 'reject',    reason: 'bad_password' },
  { style: 'challenge', user: 'tom', typed: '000000', answer: true, reply: 'reject', reason: 'bad_code', token: 'H-TOM' },
  { style: 'challenge', user: 'tom', typed: code(0), answer: true, reply: 'accept',  reason: 'code_ok', token: 'H-TOM' },
  { style: 'challenge', user: 'tom', typed: code(0), answer: true, reply: 'reject',  reason: 'replay', token: 'H-TOM' },
  { style: 'challenge', user: 'nob', typed: PASSWORD,          reply: 'reject',    reason: 'no_token' },
  { style: 'challenge', user: 'pat', typed: PASSWORD,          reply: 'accept',    reason: 'password_ok' },
  { style: 'challenge', user: 'pat', typed: 'wrong',           reply: 'reject',    reason: 'bad_password' },
  { style: 'append',    user: 'tom', typed: PASSWORD + code(1), reply: 'accept',   reason: 'code_ok', token: 'H-TOM' },
  { style: 'append',    user: 'tom', typed: PASSWORD + code(1), reply: 'reject',   reason: 'replay', token: 'H-TOM' },
  { style: 'append',    user: 'tom', typed: PASSWORD + '999999', reply: 'reject',  reason: 'bad_code', token: 'H-TOM' },
  { style: 'append',    user: 'tom', typed: PASSWORD,          reply: 'reject',    reason: 'no_code' },
  { style: 'append',    user: 'tom', typed: 'wrong123456',     reply: 'reject',    reason: 'bad_password' },
  { style: 'append',    user: 'nob', typed: PASSWORD + '123456', reply: 'reject',  reason: 'no_token' },
  { style: 'otp-only',  user: 'tom', typed: code(2),           reply: 'accept',    reason: 'code_ok', token: 'H-TOM' },
  { style: 'otp-only',  user: 'tom', typed: code(2),           reply: 'reject',    reason: 'replay', token: 'H-TOM' },
  { style: 'otp-only',  user: 'tom', typed: '111111',          reply: 'reject',    reason: 'bad_code', token: 'H-TOM' },
  { style: 'otp-only',  user: 'tom', typed: '222222',          reply: 'reject',    reason: 'bad_code', token: 'H-TOM' },
  { style: 'otp-only',  user: 'tom', typed: '333333',          reply: 'reject',    reason: 'bad_code', token: 'H-TOM' },
  { style: 'otp-only',  user: 'tom', typed: code(3),           reply: 'reject',    reason: 'locked', token: 'H-TOM' },
  { style: 'otp-only',  user: 'nob', typed: '123456',          reply: 'reject',    reason: 'no_token' },
  { style: 'otp-only',  user: 'zed', typed: '123456',          reply: 'reject',    reason: 'unknown_user' },
];

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    clients: [{ name: 'nas', address: '127.0.0.1', loginStyle: 'challenge' }],
    users: [
      { username: 'tom', password: PASSWORD, method: 'token' },
      { username: 'nob', password: PASSWORD, method: 'token' },
      { username: 'pat', password: PASSWORD, method: 'password' },
      { username: 'kim', password: PASSWORD, method: 'token' },
    ],
    config: { auth: { lockout: { maxFailures: 3 } } },
  });
  const id = (await t.store.users.get('tom')).id;
  await t.store.tokens.create({ serial: 'H-TOM', userId: id, origin: 'software', state: 'active', algorithm: 'sha1', digits: 6, kind: 'hotp', seed });
  const kim = (await t.store.users.get('kim')).id;
  await t.store.tokens.create({ serial: 'H-KIM', userId: kim, origin: 'software', state: 'active', algorithm: 'sha1', digits: 6, kind: 'hotp', seed: randomSeed() });
  // the node hears of the first 6-digit token (append's split for a user without one) a moment later
  await new Promise((r) => setTimeout(r, 2000));
});
afterAll(() => t?.close());

const REPLIES: Record<number, Reply> = { [Code.AccessAccept]: 'accept', [Code.AccessReject]: 'reject', [Code.AccessChallenge]: 'challenge' };
const send = async (username: string | undefined, password: string | undefined, state?: Buffer, extra?: RawAttribute[]) => {
  const a = await authenticate(t.port, { username, password, state, secret: TEST_SECRET, extra });
  return { reply: a && REPLIES[a.code], state: a ? attr(a, Attr.State) : undefined };
};

async function rowsSince(id: bigint) {
  await new Promise((r) => setTimeout(r, 200)); // the batch writer writes every 50 ms
  return t.store.db.selectFrom('audit_event').selectAll().where('id', '>', id.toString() as never).orderBy('id').execute();
}

async function lastId(): Promise<bigint> {
  const r = await t.store.db.selectFrom('audit_event').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return BigInt(r?.id ?? 0);
}

let style: LoginStyle = 'challenge';
test.each(STEPS.map((s, i) => [`${i + 1}. ${s.style}: ${s.user} -> ${s.reason}`, s] as const))('%s: one audit row', async (_name, s) => {
  if (s.style !== style) {
    await t.store.clients.update('nas', { loginStyle: s.style });
    await new Promise((r) => setTimeout(r, 700)); // radius.clientRefresh is 0.2 s in tests
    style = s.style;
  }
  const before = await lastId();
  const expected = [];
  if (s.answer) {
    const first = await send(s.user, PASSWORD);
    expect(first.reply).toBe('challenge');
    expected.push({ username: s.user, client: 'nas', result: 'challenge', reason: 'password_ok', token_serial: null, method: 'token' });
    expect((await send(s.user, s.typed, first.state)).reply).toBe(s.reply);
  } else {
    expect((await send(s.user, s.typed)).reply).toBe(s.reply);
  }
  expected.push({ username: s.user, client: 'nas', result: s.reply, reason: s.reason, token_serial: s.token ?? null, method: s.user === 'zed' ? null : s.user === 'pat' ? 'password' : 'token' });
  const rows = await rowsSince(before);
  expect(rows.map((r) => ({ username: r.username, client: r.client, result: r.result, reason: r.reason, token_serial: r.token_serial, method: r.method }))).toEqual(expected);
});

test('radotp audit --user tom --json shows his logins, the latest first', async () => {
  const r = await runCli(['audit', '--user', 'tom', '--json'], { env: { RADOTP_CONFIG: t.configFile } });
  expect(r.code).toBe(0);
  const rows = JSON.parse(r.stdout) as { reason: string; tokenSerial?: string; client?: string }[];
  const tom = STEPS.filter((s) => s.user === 'tom')
    .flatMap((s) => (s.answer ? ['password_ok', s.reason] : [s.reason]))
    .reverse();
  expect(rows.map((x) => x.reason)).toEqual(tom);
  expect(rows[0]).toMatchObject({ reason: 'locked', tokenSerial: 'H-TOM', client: 'nas' });
});

type Row = { username: string | null; result: string; reason: string; method: string | null; token_serial: string | null };
const row = (username: string | null, result: string, reason: string, method: string | null = null, token_serial: string | null = null): Row => ({ username, result, reason, method, token_serial });

// [what happens, the requests sent (challenge style), every row they leave, in order]
// prettier-ignore
const SPECIAL: [string, () => Promise<void>, Row[]][] = [
  ['an answer to a challenge already used up', async () => {
    const c = await send('kim', PASSWORD);
    await send('kim', '000000', c.state);
    expect((await send('kim', '000001', c.state)).reply).toBe('reject');
  }, [row('kim', 'challenge', 'password_ok', 'token'), row('kim', 'reject', 'bad_code', 'token', 'H-KIM'), row('kim', 'reject', 'challenge_expired')]],
  ["another user's answer to kim's challenge", async () => {
    const c = await send('kim', PASSWORD);
    expect((await send('pat', '123456', c.state)).reply).toBe('reject');
  }, [row('kim', 'challenge', 'password_ok', 'token'), row('pat', 'reject', 'challenge_user_mismatch')]],
  ['no User-Name', async () => {
    expect((await send(undefined, PASSWORD)).reply).toBe('reject');
  }, [row(null, 'reject', 'no_username')]],
  ['CHAP instead of PAP', async () => {
    expect((await send('kim', undefined, undefined, [{ type: Attr.ChapPassword, value: Buffer.alloc(17, 1) }])).reply).toBe('reject');
  }, [row('kim', 'reject', 'unsupported_auth_protocol')]],
  ['the right password after auth.lockout.maxFailures wrong ones', async () => {
    expect((await send('pat', PASSWORD)).reply).toBe('accept'); // a right one starts the count again
    for (const wrong of ['w1', 'w2', 'w3']) await send('pat', wrong);
    expect((await send('pat', PASSWORD)).reply).toBe('reject');
  }, [row('pat', 'accept', 'password_ok', 'password'), ...['w1', 'w2', 'w3'].map(() => row('pat', 'reject', 'bad_password', 'password')), row('pat', 'reject', 'password_locked', 'password')]],
];

describe('requests out of the ordinary, each audited once with its reason', () => {
  beforeAll(async () => {
    await t.store.clients.update('nas', { loginStyle: 'challenge' });
    await new Promise((r) => setTimeout(r, 700));
  });
  test.each(SPECIAL)('%s', async (_name, requests, expected) => {
    const before = await lastId();
    await requests();
    const rows = await rowsSince(before);
    expect(rows.map((r) => ({ username: r.username, result: r.result, reason: r.reason, method: r.method, token_serial: r.token_serial }))).toEqual(expected);
  });
});
