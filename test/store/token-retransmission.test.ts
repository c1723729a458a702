import { randomBytes } from 'node:crypto';
import { TokenVerifier, type CodeCheck } from '../../src/auth/token-verifier';
import type { LoginToken, TokenRepository } from '../../src/store/tokens';
import { UserRepository } from '../../src/store/users';
import { hotpForCounter, randomSeed, totpForStep } from '../support/otp-codes';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * A node spends a login's code and is killed (or stalls) before its reply reaches the NAS; the NAS sends the
 * same packet to another node. The spend records which request made it (migration 0011), so the second node
 * answers that request as accepted (`retransmission`), while any other request with the code stays a replay.
 * Each case spends one code with request F1, then checks the same code again (the token read before the first
 * spend, as a node's cache holds it, so the second spend loses; or read after it, so it is found spent).
 */
let db: MigratedDatabase;
let tokens: TokenRepository;
let serialNo = 0;
/** The user the tokens here are assigned to: a code is spent only for its token's user (see SpendBatcher). */
let owner: bigint;
const STEP = 58_000_123;
const NOW = STEP * 30 + 7;
const WINDOW = 30;

beforeAll(async () => {
  db = await createMigratedDatabase();
  tokens = tokenRepository(db.conn);
  owner = (await new UserRepository(db.conn.db).add({ username: 'rhea', passwordHash: null, method: 'token' })).id;
});
afterAll(() => db.close());

const verifier = () =>
  new TokenVerifier(tokens, { digests: () => [randomBytes(32)] }, { totpWindow: 1, hotpLookAhead: 10, maxFailures: 10, lockSeconds: 60, retransmissionWindow: WINDOW }, () => NOW);

async function tokenOf(kind: 'totp' | 'hotp'): Promise<{ serial: string; seed: Buffer; code: string; read: () => Promise<LoginToken[]> }> {
  const seed = randomSeed();
  const serial = `RETX-${++serialNo}`;
  await tokens.create({ serial, userId: owner, origin: 'software', kind, state: 'active', algorithm: 'sha1', digits: 6, seed });
  const read = async () => [await tokens.getWithSeed(serial)];
  return { serial, seed, code: kind === 'totp' ? totpForStep(seed, STEP) : hotpForCounter(seed, 0), read };
}

const F1 = randomBytes(16);
const F2 = randomBytes(16);

// [case, token kind, second request's fingerprint, token rows of the second check, seconds the spend is aged by, result]
const cases: [string, 'totp' | 'hotp', Buffer | undefined, 'stale' | 'fresh', number, CodeCheck['result']][] = [
  ['same request, its spend lost (stale rows)', 'totp', F1, 'stale', 0, 'retransmission'],
  ['same request, found spent (fresh rows)', 'totp', F1, 'fresh', 0, 'retransmission'],
  ['same request, HOTP, its spend lost', 'hotp', F1, 'stale', 0, 'retransmission'],
  ['same request, HOTP, found spent', 'hotp', F1, 'fresh', 0, 'retransmission'],
  ['another request (new Request Authenticator), same code', 'totp', F2, 'stale', 0, 'replay'],
  ['another request, HOTP, found spent', 'hotp', F2, 'fresh', 0, 'replay'],
  ['no request (token verify)', 'hotp', undefined, 'stale', 0, 'replay'],
  ['same request after the duplicate window', 'totp', F1, 'stale', WINDOW + 1, 'replay'],
  ['same request after the duplicate window, HOTP, found spent', 'hotp', F1, 'fresh', WINDOW + 1, 'replay'],
  ['same request just inside the window', 'hotp', F1, 'stale', WINDOW - 5, 'retransmission'],
];

test.each(cases)('%s (%s): %#', async (_name, kind, second, rows, agedBy, result) => {
  const t = await tokenOf(kind);
  const before = await t.read();
  expect((await verifier().check(before, t.code, { spentBy: F1 })).result).toBe('accept');
  expect((await tokens.getWithSeed(t.serial)).lastUsedAt).not.toBeNull();
  if (agedBy) await db.conn.pool.query(`UPDATE token SET last_used_at = now() - make_interval(secs => $1) WHERE serial = $2`, [agedBy, t.serial]);
  const check = await verifier().check(rows === 'stale' ? before : await t.read(), t.code, { spentBy: second });
  expect(check.result).toBe(result);
  // nothing moved: a retransmission spends nothing more
  const after = await tokens.getWithSeed(t.serial);
  expect(kind === 'totp' ? after.lastStep : after.nextCounter).toBe(kind === 'totp' ? BigInt(STEP) : 1n);
});

test('a later code spent by another request: the first request, sent again, is a replay (not its step any more)', async () => {
  const t = await tokenOf('hotp');
  const before = await t.read();
  expect((await verifier().check(before, t.code, { spentBy: F1 })).result).toBe('accept');
  expect((await verifier().check(await t.read(), hotpForCounter(t.seed, 1), { spentBy: F2 })).result).toBe('accept');
  expect((await verifier().check(before, t.code, { spentBy: F1 })).result).toBe('replay');
});

test('a spend without a request (token verify) records none: NULL never matches', async () => {
  const t = await tokenOf('hotp');
  expect((await verifier().check(await t.read(), t.code)).result).toBe('accept');
  const { rows } = await db.conn.pool.query<{ by: Buffer | null }>(`SELECT last_spent_by AS by FROM token WHERE serial = $1`, [t.serial]);
  expect(rows[0]!.by).toBeNull();
});

test('one spend batch records each request against its own token', async () => {
  const ts = await Promise.all([tokenOf('totp'), tokenOf('totp'), tokenOf('hotp'), tokenOf('hotp')]);
  const by = ts.map(() => randomBytes(16));
  const checks = await Promise.all(ts.map(async (t, i) => verifier().check(await t.read(), t.code, { spentBy: i === 3 ? undefined : by[i] })));
  expect(checks.map((c) => c.result)).toEqual(['accept', 'accept', 'accept', 'accept']);
  const { rows } = await db.conn.pool.query<{ serial: string; by: Buffer | null }>(`SELECT serial, last_spent_by AS by FROM token WHERE serial = ANY($1)`, [ts.map((t) => t.serial)]);
  const recorded = new Map(rows.map((r) => [r.serial, r.by]));
  expect(ts.map((t) => recorded.get(t.serial))).toEqual([by[0], by[1], by[2], null]);
});

// The TOTP window edge: radius.duplicateWindow may be longer than the TOTP window (up to 10 minutes, see
// src/config/schema.ts). A NAS that fails over after 60 s sends the login again when its code's step has left
// the window (totpWindow 1, re-centred on the spent step by the drift the spend recorded). It is still that very
// request within the duplicate window: accepted, and no wrong code counted against the token.
// [token rows of the second check, how it is checked]
test.each([
  ['stale', 'login'],
  ['fresh', 'login'],
  ['fresh', 'used-up challenge'],
] as const)('a code sent again after its step left the TOTP window, within a longer duplicate window (%s rows, %s)', async (rows, how) => {
  const t = await tokenOf('totp');
  const at = (clock: number) =>
    new TokenVerifier(tokens, { digests: () => [randomBytes(32)] }, { totpWindow: 1, hotpLookAhead: 10, maxFailures: 10, lockSeconds: 60, retransmissionWindow: 120 }, () => clock);
  const before = await t.read();
  expect((await at(NOW).check(before, t.code, { spentBy: F1 })).result).toBe('accept');
  const later = at(NOW + 60); // two steps on: STEP is out of the window
  const reload = async () => t.read(); // as the login cache does: a miss is decided again on fresh rows
  const second = rows === 'stale' ? before : await t.read();
  const check = how === 'login' ? await later.check(second, t.code, { spentBy: F1, reload }) : await later.retransmission(second, t.code, F1);
  expect(check?.result).toBe('retransmission');
  const after = await tokens.getWithSeed(t.serial);
  expect([after.lastStep, after.failCount]).toEqual([BigInt(STEP), 0]);
  // another request with that code, then: a replay, never an accept
  expect((await later.check(await t.read(), t.code, { spentBy: F2 })).result).toBe('replay');
});

// A token locked after the accept (ten wrong codes typed since, or a lock the admin could not undo in time):
// RFC 5080 §2.2.2 has a retransmission answered as the original was, and the original was an accept given before
// the lock. The lock is for new requests: the same code in another request stays a replay, a fresh code is refused.
// [how the request sent again is checked]
test.each([['login'], ['used-up challenge']] as const)('a token locked after the accept: the request sent again is answered as it was (%s)', async (how) => {
  const t = await tokenOf('totp');
  expect((await verifier().check(await t.read(), t.code, { spentBy: F1 })).result).toBe('accept');
  await db.conn.pool.query(`UPDATE token SET fail_count = 10, locked_until = now() + interval '1 hour' WHERE serial = $1`, [t.serial]);
  const locked = await t.read();
  const again = how === 'login' ? await verifier().check(locked, t.code, { spentBy: F1 }) : await verifier().retransmission(locked, t.code, F1);
  expect(again?.result).toBe('retransmission');
  expect((await verifier().check(await t.read(), t.code, { spentBy: F2 })).result).toBe('replay');
  expect((await verifier().check(await t.read(), totpForStep(t.seed, STEP + 1), { spentBy: F2 })).result).toBe('locked');
  const after = await tokens.getWithSeed(t.serial);
  expect([after.lastStep, after.failCount]).toEqual([BigInt(STEP), 10]);
});
