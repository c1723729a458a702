import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashPassword } from '../../src/auth/password-hash';
import { Attr, Code } from '../../src/radius/types';
import { auditRowsOnceWritten } from '../support/audit-rows';
import { logLines } from '../support/log-lines';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import { radclient } from '../support/radclient';
import { attr, authenticate, type Answer } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';

/*
 * The `challenge` login style as VPN gateways (ASA, FortiGate, GlobalProtect, pfSense, NetScaler) drive it,
 * against a real server on a real database: password → Access-Challenge (Reply-Message, State) → the code
 * with the State echoed (RFC 2865 §4.4). Client "local4" (127.0.0.1) is one gateway, "local6" (::1) its HA
 * peer. Every user has an HOTP token, so a code's fate (spent or not) is read off its counter.
 */

/** 200 three-octet characters (the longest auth.challengeMessage): 600 octets, more than one Reply-Message holds. */
const LONG_PROMPT = '€'.repeat(200);
const CHALLENGE_TTL = 90;
const REJECT_MESSAGE = 'Authentication failed';
/** auth.challengeExpiredMessage's default. */
const EXPIRED_MESSAGE = 'This login has expired: please log in again';

let t: TestServer;
const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-nas-')), 'serve.log');
const seeds = new Map<string, Buffer>();
const counters = new Map<string, number>();
let userCount = 0;

beforeAll(async () => {
  t = await startTestServer({ config: { auth: { challengeMessage: LONG_PROMPT, challengeTtl: `${CHALLENGE_TTL}s` } }, logFile });
}, 60_000);
afterAll(() => t?.close());

/** A new `token` user (password `pw`) with an active HOTP token. */
async function newUser(): Promise<string> {
  const username = `nas${++userCount}`;
  const user = await t.store.users.add({ username, passwordHash: await hashPassword('pw'), method: 'token' });
  const seed = randomSeed();
  await t.store.tokens.create({ serial: `HOTP-${username}`, userId: user.id, origin: 'software', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed });
  seeds.set(username, seed);
  counters.set(username, 0);
  return username;
}

/** The user's next HOTP code (not yet sent). */
const nextCode = (username: string): string => hotpForCounter(seeds.get(username)!, counters.get(username)!);
const spent = (username: string): void => void counters.set(username, counters.get(username)! + 1);

type Via = 'local4' | 'local6';
const hostOf = (via: Via) => (via === 'local4' ? '127.0.0.1' : '::1');
const portOf = (via: Via) => (via === 'local4' ? t.port : t.port6!);

async function send(via: Via, username: string, password: string, state?: Buffer, nasIdentifier?: string): Promise<Answer> {
  const extra = nasIdentifier ? [{ type: Attr.NasIdentifier, value: Buffer.from(nasIdentifier) }] : [];
  const a = await authenticate(portOf(via), { host: hostOf(via), username, password, state, secret: TEST_SECRET, extra, timeoutMs: 5000 });
  if (!a) throw new Error(`no answer for ${username}`);
  return a;
}

async function challengeFor(username: string, via: Via = 'local4'): Promise<Buffer> {
  const a = await send(via, username, 'pw');
  expect(a.code).toBe(Code.AccessChallenge);
  return attr(a, Attr.State)!;
}

const replyText = (a: Answer): string =>
  a.attributes
    .filter((x) => x.type === Attr.ReplyMessage)
    .map((x) => x.value.toString('utf8'))
    .join('');

/** The user's audit rows (newest first) once `count` are written: reason and client of each. */
async function auditOf(username: string, count: number): Promise<{ reason: string; client?: string }[]> {
  return (await auditRowsOnceWritten(t.store, username, count)).map((r) => ({ reason: r.reason, client: r.client }));
}

describe('1. a prompt longer than one Reply-Message holds (RFC 2865 §5.18)', () => {
  test('goes out whole, in order, over several Reply-Message attributes of at most 253 octets, each valid UTF-8', async () => {
    const user = await newUser();
    const a = await send('local4', user, 'pw');
    expect(a.code).toBe(Code.AccessChallenge);
    const parts = a.attributes.filter((x) => x.type === Attr.ReplyMessage);
    expect(parts.map((p) => p.value.length)).toEqual([252, 252, 96]); // cut at character boundaries
    for (const p of parts) expect(Buffer.from(p.value.toString('utf8'), 'utf8')).toEqual(p.value);
    expect(replyText(a)).toBe(LONG_PROMPT);
  });

  test('the operator is warned at start, once, naming the key: a NAS showing only the first part (pam_radius) shows it cut', () => {
    const warned = logLines<{ key?: string; octets?: number; attributes?: number }>(logFile).filter((l) => l.level === 40 && /Reply-Message/.test(l.msg));
    expect(warned.map(({ key, octets, attributes }) => ({ key, octets, attributes }))).toEqual([{ key: 'auth.challengeMessage', octets: 600, attributes: 3 }]);
    expect(warned[0]!.msg).toMatch(/auth\.challengeMessage is 600 octets.*3 Reply-Message attributes.*only the first.*253 octets/);
  });

  test("FreeRADIUS's radclient reads all of them", async () => {
    const user = await newUser();
    const r = await radclient({ port: t.port, secret: TEST_SECRET, pairs: `User-Name=${user},User-Password=pw,Message-Authenticator=0x00` });
    expect(r.reply).toBe('Access-Challenge');
    expect(r.output.match(/Reply-Message = /g)).toHaveLength(3);
    expect(r.output).toMatch(/Session-Timeout = 90\b/);
  });
});

describe('2. the Access-Challenge says how long the NAS should wait for the answer', () => {
  test('Session-Timeout (RFC 2865 §5.27) is auth.challengeTtl, once', async () => {
    const user = await newUser();
    const a = await send('local4', user, 'pw');
    expect(a.code).toBe(Code.AccessChallenge);
    const timeouts = a.attributes.filter((x) => x.type === Attr.SessionTimeout);
    expect(timeouts.map((x) => x.value.readUInt32BE(0))).toEqual([CHALLENGE_TTL]);
    expect(timeouts[0]!.value).toHaveLength(4);
  });

  test('an Access-Accept and an Access-Reject carry none (nothing limits the session radotp does not know of)', async () => {
    const user = await newUser();
    const state = await challengeFor(user);
    const wrong = await send('local4', user, 'x', state);
    expect(wrong.code).toBe(Code.AccessReject);
    const right = await send('local4', user, nextCode(user), await challengeFor(user));
    spent(user);
    expect(right.code).toBe(Code.AccessAccept);
    for (const a of [wrong, right]) expect(attr(a, Attr.SessionTimeout)).toBeUndefined();
  });
});

describe('3. the answer comes with another User-Name: the challenge is bound to the user it was issued to', () => {
  // [what the NAS sent, how the name differs]; user names are exact (the first step finds no such user either)
  const variants: [string, (u: string) => string][] = [
    ['another case', (u) => u.toUpperCase()],
    ['a trailing space', (u) => `${u} `],
    ['a realm', (u) => `${u}@corp`],
  ];
  test.each(variants)('%s: Access-Reject (challenge_user_mismatch), the code not spent, the real answer still accepted', async (_what, rename) => {
    const user = await newUser();
    const state = await challengeFor(user);
    const other = await send('local4', rename(user), nextCode(user), state);
    expect(other.code).toBe(Code.AccessReject);
    expect(replyText(other)).toBe(REJECT_MESSAGE);
    expect(await auditOf(rename(user), 1)).toEqual([{ reason: 'challenge_user_mismatch', client: 'local4' }]);
    expect((await send('local4', user, nextCode(user), state)).code).toBe(Code.AccessAccept);
    spent(user);
  });

  test('the HA peer (another client, another NAS-Identifier) answering with the State: accepted, and audited under the peer', async () => {
    const user = await newUser();
    const state = await challengeFor(user, 'local4');
    const a = await send('local6', user, nextCode(user), state, 'fw-standby');
    spent(user);
    expect(a.code).toBe(Code.AccessAccept);
    expect((await auditOf(user, 2))[0]).toEqual({ reason: 'code_ok', client: 'local6' });
  });
});

describe('4. the code as people type it', () => {
  // [typed, from the code] — authenticator apps show "123 456"
  const typings: [string, (c: string) => string][] = [
    ['a space in the middle', (c) => `${c.slice(0, 3)} ${c.slice(3)}`],
    ['a leading space', (c) => ` ${c}`],
    ['a trailing space', (c) => `${c} `],
    ['a tab and a space around it', (c) => `\t${c} `],
  ];
  test.each(typings)('with %s: accepted', async (_what, type) => {
    const user = await newUser();
    const a = await send('local4', user, type(nextCode(user)), await challengeFor(user));
    spent(user);
    expect(a.code).toBe(Code.AccessAccept);
  });

  // [what the user typed, from the code]: not a code, whatever it is; a plain mismatch (the rule of otp/code-format.ts)
  const mismatches: [string, (c: string) => string][] = [
    ['a dash in the middle', (c) => `${c.slice(0, 3)}-${c.slice(3)}`],
    ['letters', () => 'abcdef'],
    ['one digit too many', (c) => `${c}0`],
    ['full-width digits (an East Asian keyboard)', (c) => String.fromCodePoint(...[...c].map((d) => 0xff10 + Number(d)))],
    ['nothing (Enter pressed at the prompt)', () => ''],
  ];
  test.each(mismatches)('with %s: Access-Reject with auth.rejectMessage, one bad_code, one failure counted, nothing spent', async (_what, type) => {
    const user = await newUser();
    const a = await send('local4', user, type(nextCode(user)), await challengeFor(user));
    expect(a.code).toBe(Code.AccessReject);
    expect(replyText(a)).toBe(REJECT_MESSAGE);
    expect((await auditOf(user, 2)).map((r) => r.reason)).toEqual(['bad_code', 'password_ok']);
    const token = await t.store.tokens.get(`HOTP-${user}`);
    expect({ failCount: token.failCount, nextCounter: token.nextCounter }).toEqual({ failCount: 1, nextCounter: 0n });
  });
});

describe('5. the answer again, after it was accepted', () => {
  test('re-encoded (new Identifier and Request Authenticator): Access-Reject as an unknown challenge, with auth.challengeExpiredMessage', async () => {
    const user = await newUser();
    const state = await challengeFor(user);
    const code = nextCode(user);
    expect((await send('local4', user, code, state)).code).toBe(Code.AccessAccept);
    spent(user);
    const again = await send('local4', user, code, state);
    expect(again.code).toBe(Code.AccessReject);
    expect(replyText(again)).toBe(EXPIRED_MESSAGE);
    expect((await auditOf(user, 3))[0]?.reason).toBe('challenge_expired');
  });
});

describe('6. an answer to a challenge that expired', () => {
  test('Access-Reject with auth.challengeExpiredMessage, audited challenge_expired, the code not spent: the user starts again and gets in with it', async () => {
    const user = await newUser();
    const state = await challengeFor(user);
    // as auth.challengeTtl later (waiting it out would make the test as slow as the TTL)
    await t.store.db.updateTable('challenge').set({ expires_at: new Date(Date.now() - 1000) }).where('state', '=', state).execute();
    const late = await send('local4', user, nextCode(user), state);
    expect(late.code).toBe(Code.AccessReject);
    expect(replyText(late)).toBe(EXPIRED_MESSAGE);
    expect((await auditOf(user, 2))[0]?.reason).toBe('challenge_expired');
    expect((await t.store.tokens.get(`HOTP-${user}`)).nextCounter).toBe(0n);
    expect((await send('local4', user, nextCode(user), await challengeFor(user))).code).toBe(Code.AccessAccept);
    spent(user);
  });
});

describe('7. two challenges of one user open at once (connect clicked twice, or a NAS that asked two nodes)', () => {
  // Both stay good: a NAS that sent the password step to two nodes uses the State of whichever reply came
  // first, so an older challenge must not be dropped when a newer one is issued. Each needs a code of its own.
  test('the first, answered after the second was issued: accepted; the same code on the second: a replay', async () => {
    const user = await newUser();
    const first = await challengeFor(user);
    const second = await challengeFor(user);
    expect(first.equals(second)).toBe(false);
    const code = nextCode(user);
    expect((await send('local4', user, code, first)).code).toBe(Code.AccessAccept);
    spent(user);
    expect((await send('local4', user, code, second)).code).toBe(Code.AccessReject);
    expect((await auditOf(user, 4)).map((r) => r.reason)).toEqual(['replay', 'code_ok', 'password_ok', 'password_ok']);
  });

  test('the second, answered first: accepted, and the first still takes the next code', async () => {
    const user = await newUser();
    const first = await challengeFor(user);
    const second = await challengeFor(user);
    expect((await send('local4', user, nextCode(user), second)).code).toBe(Code.AccessAccept);
    spent(user);
    expect((await send('local4', user, nextCode(user), first)).code).toBe(Code.AccessAccept);
    spent(user);
  });
});
