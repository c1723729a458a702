import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TokenVerifier } from '../../src/auth/token-verifier';
import { AuthCache } from '../../src/store/auth-cache';
import { cacheThatHearsNothing, otpOnlyLogin } from '../support/stale-cache';
import { openStore, type Store } from '../../src/store/open';
import { ocra, ocraTimestamp, parseOcraSuite } from '../../src/otp';
import { TokenAdmin } from '../../src/tokens/admin';
import { currentStep, hotpForCounter, randomSeed, totpForStep } from '../support/otp-codes';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A hardware token handed from one user to another (`radotp token unassign`, then `token assign`) while a
 * server's login cache still holds it under its first user: the change's notification is on its way, or the
 * connection that LISTENs lags. The spend's guard checked the token's state and lock, not whose it was: a login
 * as the first user with the token's current code was spent and ACCEPTED for them, who no longer held the token
 * (and the code was then used up for its new owner). The guard now requires the token to be the user's who logs
 * in; such a login is refused as `token_owner_changed` (not `replay`: no code was used twice), nothing is spent,
 * and no failure is counted.
 *
 * The cache here hears no notification (isLive says yes): it stands for the moment before the change's arrives.
 */
let db: TestDatabase;
let dir: string;
let store: Store;
let admin: TokenAdmin;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-hands-'));
  store = await openStore(testConfig(dir, db.url).cfg, { createKey: true, migrate: true, poolSize: 4 });
  admin = new TokenAdmin(store, new TokenVerifier(store.tokens, store.keys, { totpWindow: 1, hotpLookAhead: 10, maxFailures: 5, lockSeconds: 600 }), { pendingTokenTtl: 600 });
});
afterAll(async () => {
  await store?.close();
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Kind = 'hotp' | 'totp';
type Change = 'assigned to another user' | 'back in the pool';
let n = 0;

const login = (cache: AuthCache, username: string, code: string) => otpOnlyLogin(testConfig(dir, db.url).cfg, store, cache, username, code);

/** ann holds a hardware token (and, with `spare`, a second one), known to a cache; the token then changes hands. */
async function changedHands(kind: Kind, change: Change, spare: boolean) {
  const i = ++n;
  const seed = randomSeed();
  const ann = await store.users.add({ username: `ann${i}`, passwordHash: null, method: 'token' });
  const bob = await store.users.add({ username: `bob${i}`, passwordHash: null, method: 'token' });
  const serial = `HANDS-${i}`;
  await store.tokens.create({ serial, userId: null, origin: 'hardware', kind, state: 'unassigned', algorithm: 'sha1', digits: 6, seed });
  await admin.assign(serial, ann.username);
  if (spare) await store.tokens.create({ serial: `SPARE-${i}`, userId: ann.id, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomSeed() });
  const cache = cacheThatHearsNothing(store);
  await cache.usableForUser((await cache.findUser(ann.username))!); // ann and her tokens, cached
  await admin.unassign(serial);
  if (change === 'assigned to another user') await admin.assign(serial, bob.username);
  const code = kind === 'hotp' ? hotpForCounter(seed, 0) : totpForStep(seed, currentStep());
  return { ann, bob, serial, code, cache };
}

// [token kind, what became of it, ann holds another token too]
const rows: [Kind, Change, boolean][] = [
  ['hotp', 'assigned to another user', false],
  ['totp', 'assigned to another user', false],
  ['hotp', 'back in the pool', false],
  ['totp', 'back in the pool', false],
  ['hotp', 'assigned to another user', true],
  ['totp', 'back in the pool', true],
];
test.each(rows)('a %s token %s (its first user cached, with a spare: %s): refused as token_owner_changed, nothing spent', async (kind, change, spare) => {
  const { ann, bob, serial, code, cache } = await changedHands(kind, change, spare);
  const before = await store.tokens.get(serial);
  expect(await login(cache, ann.username, code)).toMatchObject({ kind: 'reject', reason: 'token_owner_changed' });
  const after = await store.tokens.get(serial);
  expect({ lastStep: after.lastStep, nextCounter: after.nextCounter, failCount: after.failCount }).toEqual({ lastStep: before.lastStep, nextCounter: before.nextCounter, failCount: before.failCount });
  if (spare) expect((await store.tokens.get(`SPARE-${n}`)).failCount).toBe(0); // the right code of a token: no guess at hers
  if (change === 'assigned to another user') {
    // the code is still the new owner's to use
    expect(await login(cacheThatHearsNothing(store), bob.username, code)).toMatchObject({ kind: 'accept', reason: 'code_ok' });
  }
});

test('`token verify` of a token that changed hands after it was read: not verified for the user it was read with', async () => {
  const i = ++n;
  const seed = randomSeed();
  const ann = await store.users.add({ username: `ann${i}`, passwordHash: null, method: 'token' });
  const bob = await store.users.add({ username: `bob${i}`, passwordHash: null, method: 'token' });
  const serial = `HANDS-${i}`;
  await store.tokens.create({ serial, userId: ann.id, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed });
  // the admin's read sees ann's token; the unassign and bob's assignment land between that read and the spend
  const tokens = Object.create(store.tokens) as Store['tokens'];
  let reads = 0;
  tokens.getWithSeed = async (s) => {
    const t = await store.tokens.getWithSeed(s);
    if (reads++ === 0) {
      await admin.unassign(serial);
      await admin.assign(serial, bob.username);
    }
    return t;
  };
  const audit: { username?: string; result?: string; reason: string }[] = [];
  const verifying = new TokenAdmin({ tokens, users: store.users }, new TokenVerifier(store.tokens, store.keys, { totpWindow: 1, hotpLookAhead: 10, maxFailures: 5, lockSeconds: 600 }), {
    pendingTokenTtl: 600,
    audit: async (e) => void audit.push({ username: e.username, result: e.result, reason: e.reason }),
  });
  await expect(verifying.verify(serial, hotpForCounter(seed, 0))).rejects.toThrow(`token ${serial} changed hands meanwhile (it is ${bob.username}'s now); not verified`);
  expect(audit).toEqual([{ username: ann.username, result: 'reject', reason: 'token_owner_changed' }]);
  expect((await store.tokens.get(serial)).nextCounter).toBe(0n); // the code is still bob's to use
});

/*
 * An OCRA token whose suite has no counter (time-based, or question only) spends nothing: its challenge, single-use,
 * was taken already. With no statement there was no guard either: a response from a token read for ann (her cache)
 * and since handed to bob was accepted. It is checked against the token's owner now, in place of the spend.
 */
test('an OCRA token (no counter in its suite) handed to another user after it was read: refused as owner_changed', async () => {
  const i = ++n;
  const seed = randomSeed();
  const ann = await store.users.add({ username: `ann${i}`, passwordHash: null, method: 'token' });
  const bob = await store.users.add({ username: `bob${i}`, passwordHash: null, method: 'token' });
  const serial = `HANDS-${i}`;
  const suiteText = 'OCRA-1:HOTP-SHA1-6:QN08-T1M';
  await store.tokens.create({ serial, userId: ann.id, origin: 'hardware', kind: 'ocra', ocraSuite: suiteText, state: 'active', algorithm: 'sha1', digits: 6, seed });
  const [annsRead] = await store.tokens.usableForUser(ann.id); // as ann's node holds it
  await admin.unassign(serial);
  await admin.assign(serial, bob.username);
  const suite = parseOcraSuite(suiteText);
  const question = '12345678';
  const response = ocra(suite, seed, { question, timestamp: ocraTimestamp(suite, Date.now() / 1000) });
  const verifier = new TokenVerifier(store.tokens, store.keys, { totpWindow: 1, hotpLookAhead: 10, maxFailures: 5, lockSeconds: 600 });
  expect((await verifier.check([annsRead!], response, { ocraQuestion: question })).result).toBe('owner_changed');
  expect((await verifier.check(await store.tokens.usableForUser(bob.id), response, { ocraQuestion: question })).result).toBe('accept');
});
