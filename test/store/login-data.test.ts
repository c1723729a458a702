import { randomBytes } from 'node:crypto';
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
