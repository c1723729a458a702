import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { KeyError, KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { AuthCache, type AuthSources } from '../../src/store/auth-cache';
import { loadLoginData } from '../../src/store/login-data';
import { insertSealedTokens } from '../support/sealed-tokens';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * During a key roll-out, a node may meet a token seed sealed under a key it does not hold: a node with the new key
 * only, reading a token enrolled meanwhile by a node still on the old keyFile (step 5 of `keys rotate --help` not
 * yet run). README: "A node meeting a secret under a key it lacks answers THAT login with nothing". But a node
 * reads every user of a turn of its event loop in one statement (LookupBatcher), and the one seed it could not open
 * failed the whole batch: every user logging in at that moment went unanswered, not just the one.
 */
let db: MigratedDatabase;
const oldKey = new KeyRing(masterKeyFromBytes(randomBytes(32)));
const newKey = new KeyRing(masterKeyFromBytes(randomBytes(32)));

beforeAll(async () => {
  db = await createMigratedDatabase();
  await insertSealedTokens(db.conn.db, newKey, 3, 'ROTATED-'); // re-sealed by the rotation
  await insertSealedTokens(db.conn.db, oldKey, 1, 'LATE-'); // enrolled on a node still on the old key
  await sql`ANALYZE`.execute(db.conn.db);
});

afterAll(async () => {
  await db?.close();
});

test('a node holding only the new key answers the other users of the same moment; only the one with the old-key seed fails', async () => {
  let statements = 0;
  const source: AuthSources = {
    loadLoginData: (names) => {
      statements++;
      return loadLoginData(db.conn.db, newKey, names);
    },
    usableForUser: () => Promise.reject(new Error('not used here')),
    hasDisabledToken: () => Promise.reject(new Error('not used here')),
  };
  const cache = new AuthCache(source, () => true);
  // four logins in one turn of the event loop
  const found = await Promise.allSettled(['ROTATED-0', 'LATE-0', 'ROTATED-1', 'ROTATED-2'].map((u) => cache.findUser(u)));
  expect(found.map((f) => (f.status === 'fulfilled' ? (f.value as { username: string } | undefined)?.username : (f.reason as Error).name))).toEqual([
    'ROTATED-0',
    'KeyError',
    'ROTATED-1',
    'ROTATED-2',
  ]);
  expect((found[1] as PromiseRejectedResult).reason).toBeInstanceOf(KeyError);
  // one statement for the turn, then, since it met a seed it could not open, one per user
  expect(statements).toBe(5);
});

/*
 * The seed is a token_seed row of its own (migration 0018), written with the token row in one transaction. A token
 * row without one (only plain SQL makes it) is a seed that cannot be opened: that user's login fails, naming the
 * token, as above; the others of the moment are answered, and the uncached read and the admin read say the same.
 */
test('a token row without its seed row fails its user alone, naming the token', async () => {
  await insertSealedTokens(db.conn.db, newKey, 1, 'NOSEED-');
  await sql`DELETE FROM token_seed WHERE token_id = (SELECT id FROM token WHERE serial = 'NOSEED-0')`.execute(db.conn.db);
  const source: AuthSources = {
    loadLoginData: (names) => loadLoginData(db.conn.db, newKey, names),
    usableForUser: () => Promise.reject(new Error('not used here')),
    hasDisabledToken: () => Promise.reject(new Error('not used here')),
  };
  const found = await Promise.allSettled(['ROTATED-0', 'NOSEED-0'].map((u) => new AuthCache(source, () => true).findUser(u)));
  expect(found.map((f) => (f.status === 'fulfilled' ? (f.value as { username: string } | undefined)?.username : (f.reason as Error).message))).toEqual([
    'ROTATED-0',
    'token NOSEED-0 has no sealed seed (no token_seed row)',
  ]);
  const tokens = tokenRepository(db.conn, newKey);
  const user = (await sql<{ id: bigint }>`SELECT id FROM app_user WHERE username = 'NOSEED-0'`.execute(db.conn.db)).rows[0]!;
  await expect(tokens.usableForUser(user.id)).rejects.toThrow(new KeyError('token NOSEED-0 has no sealed seed (no token_seed row)'));
  await expect(tokens.getWithSeed('NOSEED-0')).rejects.toThrow(new KeyError('token NOSEED-0 has no sealed seed (no token_seed row)'));
});
