import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildPipeline } from '../../src/app/pipeline';
import { hashPassword } from '../../src/auth/password-hash';
import type { LoginStyle } from '../../src/store/schema';
import { createLogger } from '../../src/obs/logger';
import { cacheThatHearsNothing } from '../support/stale-cache';
import { openStore, type Store } from '../../src/store/open';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * `radotp user remove` while a server decides that user's login. The server found the user (in its cache: the
 * removal's notification is still on its way, or the removal came after the lookup) and goes on to find rows
 * that are gone. Such a login was audited as what it was not: `bad_code` (the code was right: its token was
 * gone when it was spent), `bad_password` (the password was right: the user's row was gone when it was read),
 * or it failed as `internal_error` (the challenge for a user gone broke a foreign key): no answer, and an
 * "internal error while deciding" in the log with a stack. It is refused as `unknown_user`, which it now is.
 *
 * The cache here hears no notification (isLive says yes): it stands for the moment before the removal's arrives.
 */
let db: TestDatabase;
let dir: string;
let store: Store;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-removed-'));
  store = await openStore(testConfig(dir, db.url).cfg, { createKey: true, migrate: true, poolSize: 4 });
});
afterAll(async () => {
  await store?.close();
  await db?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const PASSWORD = 'the-right-password';
type When = 'before the login' | 'while its password is hashed';
let users = 0;

/** A user with a HOTP token, known to a fresh cache, removed at `when`; then a login with the right password and code. */
async function loginOfRemovedUser(method: 'token' | 'password', origin: 'hardware' | 'software', style: LoginStyle, when: When) {
  const username = `gone${++users}`;
  const seed = randomSeed();
  const user = await store.users.add({ username, passwordHash: await hashPassword(PASSWORD), method });
  await store.tokens.create({ serial: `GONE-${users}`, userId: user.id, origin, kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed });
  const cache = cacheThatHearsNothing(store);
  // the password's row is read before it is hashed: removing the user right after that read lands in the hash
  const passwords = Object.create(store.passwords) as Store['passwords'];
  passwords.state = async (id) => {
    const state = await store.passwords.state(id);
    if (when === 'while its password is hashed') await store.users.remove(username);
    return state;
  };
  const pipeline = buildPipeline(testConfig(dir, db.url).cfg, { ...store, passwords }, 'n1', { logger: createLogger('silent'), cache, codeLengths: { current: () => [6] } });
  await cache.usableForUser((await cache.findUser(username))!); // the user and their token, cached
  if (when === 'before the login') await store.users.remove(username);
  const code = hotpForCounter(seed, 0);
  const typed = style === 'otp-only' ? code : style === 'append' ? PASSWORD + code : PASSWORD;
  return pipeline.decide({ username, password: Buffer.from(typed), client: { name: 'nas', address: '127.0.0.1', loginStyle: style } });
}

// [user's method, token origin (a software token is deleted with its user, a hardware one goes back to the pool), login style, when removed]
const rows: ['token' | 'password', 'hardware' | 'software', LoginStyle, When][] = [
  ['token', 'hardware', 'otp-only', 'before the login'], // was bad_code
  ['token', 'software', 'otp-only', 'before the login'], // was bad_code
  ['token', 'hardware', 'challenge', 'before the login'], // was bad_password
  ['token', 'hardware', 'challenge', 'while its password is hashed'], // was fail internal_error
  ['token', 'hardware', 'append', 'while its password is hashed'], // was bad_code
  ['token', 'software', 'append', 'while its password is hashed'], // was bad_code
  ['password', 'hardware', 'challenge', 'before the login'], // was bad_password
];
test.each(rows)('a %s user (%s token), %s login, removed %s: refused as unknown_user', async (method, origin, style, when) => {
  expect(await loginOfRemovedUser(method, origin, style, when)).toMatchObject({ kind: 'reject', reason: 'unknown_user' });
});
