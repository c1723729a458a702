import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildPipeline } from '../../src/app/pipeline';
import { hashPassword } from '../../src/auth/password-hash';
import { createLogger } from '../../src/obs/logger';
import { ocra, ocraTimestamp, parseOcraSuite } from '../../src/otp';
import type { AuthCache } from '../../src/store/auth-cache';
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

/*
 * An OCRA token in the otp-only style: the first request gets an Access-Challenge (the question to type into the
 * token) and no password is read at either step. A user moved from `token` to `password`, on a node that had not
 * heard, was issued that challenge, and their token's response to it was ACCEPTED (on any node: the answer is
 * decided by the challenge's method, `token`). The answer's spend (or, for a suite without a counter, its check in
 * place of one) now requires the user to log in with a token still; a user who no longer does gets the answer a
 * password user's answer gets: refused, unexpected_challenge_answer.
 */
// [the token's OCRA suite, the node the answer reaches]
const ocraRows: [string, 'the same stale node' | 'a node that has heard'][] = [
  ['OCRA-1:HOTP-SHA1-6:C-QN08', 'the same stale node'], // a counter: spent
  ['OCRA-1:HOTP-SHA1-6:C-QN08', 'a node that has heard'],
  ['OCRA-1:HOTP-SHA1-6:QN08-T1M', 'the same stale node'], // no counter: checked in place of a spend
  ['OCRA-1:HOTP-SHA1-6:QN08-T1M', 'a node that has heard'],
];
test.each(ocraRows)("an OCRA token user (%s), `method token -> password` while a node's cache holds them, otp-only: the answer reaching %s is refused", async (suiteText, answeredOn) => {
  const username = `u${++users}`;
  const seed = randomSeed();
  const user = await store.users.add({ username, passwordHash: await hashPassword(OLD), method: 'token' });
  await store.tokens.create({ serial: `U-${users}`, userId: user.id, origin: 'hardware', kind: 'ocra', ocraSuite: suiteText, state: 'active', algorithm: 'sha1', digits: 6, seed });
  const stale = cacheThatHearsNothing(store);
  await stale.usableForUser((await stale.findUser(username))!); // the user and their token, cached
  await store.users.update(username, { method: 'password' });
  const pipelineOver = (cache: AuthCache) => buildPipeline(testConfig(dir, db.url).cfg, store, 'n1', { logger: createLogger('silent'), cache, codeLengths: { current: () => [6] } });
  const client = { name: 'nas', address: '127.0.0.1', loginStyle: 'otp-only' as const };
  const asked = await pipelineOver(stale).decide({ username, password: Buffer.from('x'), client });
  expect(asked.kind).toBe('challenge'); // the stale node, as it was: the token user's question
  const question = /Challenge: (\d+)\./.exec((asked as { message: string }).message)![1]!;
  const suite = parseOcraSuite(suiteText);
  const response = ocra(suite, seed, { question, counter: suite.counter ? 0n : undefined, timestamp: suite.timeStepSeconds ? ocraTimestamp(suite, Date.now() / 1000) : undefined });
  const answering = answeredOn === 'the same stale node' ? stale : cacheThatHearsNothing(store);
  const answer = await pipelineOver(answering).decide({ username, password: Buffer.from(response), state: (asked as { state: Buffer }).state, client });
  expect(`${answer.kind} ${answer.reason}`).toBe('reject unexpected_challenge_answer'); // was accept code_ok
  expect((await store.tokens.get(`U-${users}`)).nextCounter).toBe(0n); // nothing spent
});
