import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildPipeline } from '../../src/app/pipeline';
import { hashPassword } from '../../src/auth/password-hash';
import { createLogger } from '../../src/obs/logger';
import { cacheThatHearsNothing } from '../support/stale-cache';
import { openStore, type Store } from '../../src/store/open';
import type { LoginStyle } from '../../src/store/schema';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * `radotp user passwd` and `radotp user set --method` while a node's login cache still holds the user as they were
 * (the change's notification on its way, or the LISTEN connection dead and not yet found out by its heartbeat).
 * The password hash is read fresh at every check (LocalPasswordFactor): the old password is refused at once. The
 * method was not: a user moved from `password` to `token` (two factors now required) still got in on the password
 * alone on that node. The password's read now carries the method too; a method other than the one the login runs
 * under has the login decided again on the user as they are now.
 * The otp-only style reads no password: a user moved from `token` to `password` (whose login is their password now,
 * which an otp-only login does not carry) was still ACCEPTED on that node with their token's code alone. The spend's
 * guard now also requires the user to log in with a token; a spend lost on that has the login decided again.
 *
 * The cache here hears no notification (isLive says yes): it stands for the moment before the change's arrives.
 */
let db: TestDatabase;
let dir: string;
let store: Store;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-user-stale-'));
  store = await openStore(testConfig(dir, db.url).cfg, { createKey: true, migrate: true, poolSize: 4 });
});
afterAll(async () => {
  await store?.close();
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const OLD = 'the-old-password';
const NEW = 'the-new-password';
type Change = 'user passwd' | 'method password -> token' | 'method token -> password';
type Typed = 'old password' | 'new password' | 'password alone' | 'old password + code' | 'code alone';
let users = 0;

/** A user with a HOTP token, known to a cache that then misses `change`; a login as `typed` describes. */
async function staleLogin(method: 'token' | 'password', change: Change, style: LoginStyle, typed: Typed) {
  const username = `u${++users}`;
  const seed = randomSeed();
  const user = await store.users.add({ username, passwordHash: await hashPassword(OLD), method });
  await store.tokens.create({ serial: `U-${users}`, userId: user.id, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed });
  const cache = cacheThatHearsNothing(store);
  await cache.usableForUser((await cache.findUser(username))!); // the user and their token, cached
  if (change === 'user passwd') await store.users.update(username, { passwordHash: await hashPassword(NEW) });
  else await store.users.update(username, { method: change === 'method password -> token' ? 'token' : 'password' });
  const field = typed === 'new password' ? NEW : typed === 'old password + code' ? OLD + hotpForCounter(seed, 0) : typed === 'code alone' ? hotpForCounter(seed, 0) : OLD;
  const pipeline = buildPipeline(testConfig(dir, db.url).cfg, store, 'n1', { logger: createLogger('silent'), cache, codeLengths: { current: () => [6] } });
  const outcome = await pipeline.decide({ username, password: Buffer.from(field), client: { name: 'nas', address: '127.0.0.1', loginStyle: style } });
  return `${outcome.kind} ${outcome.reason}`;
}

// [method before, what changed, login style, what was typed, the outcome: what a node that has heard decides]
const rows: ['token' | 'password', Change, LoginStyle, Typed, string][] = [
  ['password', 'user passwd', 'challenge', 'old password', 'reject bad_password'],
  ['password', 'user passwd', 'challenge', 'new password', 'accept password_ok'],
  ['token', 'user passwd', 'append', 'old password + code', 'reject bad_password'],
  ['password', 'method password -> token', 'challenge', 'password alone', 'challenge password_ok'], // was accept password_ok
  ['password', 'method password -> token', 'append', 'password alone', 'reject no_code'], // was accept password_ok
  ['token', 'method token -> password', 'challenge', 'password alone', 'accept password_ok'], // was challenge password_ok
  // the NAS checked a first factor that is not hers (radotp's password is): the code alone is no login of a password user
  ['token', 'method token -> password', 'otp-only', 'code alone', 'reject bad_password'], // was accept code_ok
  ['token', 'method token -> password', 'append', 'old password + code', 'reject bad_password'],
];
test.each(rows)("a %s user, `%s` while a node's cache holds them, %s login with the %s: %s", async (method, change, style, typed, expected) => {
  expect(await staleLogin(method, change, style, typed)).toBe(expected);
});
