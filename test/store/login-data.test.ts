import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { loadLoginData, loadLoginDataPage } from '../../src/store/login-data';
import { insertSealedTokens } from '../support/sealed-tokens';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';

/*
 * The login cache holds every user and token (warmed at start), so what it keeps of each costs memory and the
 * garbage collector's marking for the life of the server. A user is kept as a login needs it: no dates.
 */
let db: MigratedDatabase;
const keys = new KeyRing(masterKeyFromBytes(randomBytes(32)));

beforeAll(async () => {
  db = await createMigratedDatabase();
  await insertSealedTokens(db.conn.db, keys, 2, 'LEAN-');
});

afterAll(async () => {
  await db?.close();
});

const LOGIN_USER_FIELDS = ['id', 'method', 'passwordHash', 'username'];

test.each([
  ['a login that missed the cache (loadLoginData)', () => loadLoginData(db.conn.db, keys, ['LEAN-0', 'LEAN-1']).then((m) => [...m.values()])],
  ['the warm-up (loadLoginDataPage)', () => loadLoginDataPage(db.conn.db, keys, 0n, 10).then((p) => p.data)],
])('%s keeps of a user what a login needs and nothing more', async (_what, load) => {
  const data = await load();
  expect(data.map((d) => d.user.username).sort()).toEqual(['LEAN-0', 'LEAN-1']);
  for (const d of data) {
    expect(Object.keys(d.user).sort()).toEqual(LOGIN_USER_FIELDS);
    expect(d.user).toEqual({ id: expect.any(BigInt), username: d.user.username, passwordHash: null, method: 'token' });
    expect(d.tokens).toHaveLength(1);
  }
});

/*
 * A user's tokens, however many, each under the user it was read for: toLoginData builds a user's one token (the
 * usual case) into an array of one and pushes any more, and gives each token its user's id.
 */
describe('every active token of a user, in id order, under the user', () => {
  const tokensOf: Record<string, [kind: 'totp' | 'hotp', algorithm: 'sha1' | 'sha256' | 'sha512'][]> = {
    'MULTI-none': [],
    'MULTI-one': [['totp', 'sha1']],
    'MULTI-three': [
      ['hotp', 'sha1'],
      ['totp', 'sha256'],
      ['totp', 'sha512'],
    ],
  };

  beforeAll(async () => {
    for (const [username, tokens] of Object.entries(tokensOf)) {
      await sql`INSERT INTO app_user (username, method) VALUES (${username}, 'token')`.execute(db.conn.db);
      for (const [i, [kind, algorithm]] of tokens.entries()) {
        const seed = randomBytes(20);
        await sql`
          INSERT INTO token (serial, user_id, origin, kind, state, algorithm, digits, seed_sealed, seed_fingerprint)
          SELECT ${`${username}-${i}`}, id, 'software', ${kind}, 'active', ${algorithm}, 6, ${keys.seal(seed, 'token-seed')}, ${keys.fingerprint(seed)}
          FROM app_user WHERE username = ${username}`.execute(db.conn.db);
      }
    }
  });

  test.each([
    ['a login that missed the cache (loadLoginData)', () => loadLoginData(db.conn.db, keys, Object.keys(tokensOf)).then((m) => [...m.values()])],
    [
      'the warm-up (loadLoginDataPage)',
      () => loadLoginDataPage(db.conn.db, keys, 0n, 100).then((p) => p.data.filter((d) => d.user.username.startsWith('MULTI-'))),
    ],
  ])('%s', async (_what, load) => {
    const data = await load();
    expect(data.map((d) => d.user.username).sort()).toEqual(Object.keys(tokensOf).sort());
    for (const d of data) {
      const expected = tokensOf[d.user.username]!;
      expect(d.tokens.map((t) => [t.serial, t.kind, t.algorithm])).toEqual(expected.map(([kind, algorithm], i) => [`${d.user.username}-${i}`, kind, algorithm]));
      for (const t of d.tokens) expect(t.userId).toBe(d.user.id);
      const ids = d.tokens.map((t) => t.id);
      expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
    }
  });
});
