import { randomBytes } from 'node:crypto';
import type { Connection } from '../../src/store/connect';
import type { TokenRepository } from '../../src/store/tokens';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * A wrong code counts against the token once; the same wrong code again within a minute (a user retyping,
 * a NAS retrying after a timeout) does not count again, and that must hold across nodes while a key is
 * being rolled out: one node still digests codes with the old key, another already with the new one.
 */
let db: MigratedDatabase;
let conn: Connection;
const oldKey = masterKeyFromBytes(randomBytes(32));
const newKey = masterKeyFromBytes(randomBytes(32));
/** Mid roll-out: node A still seals with the old key, node B already with the new; each holds both. */
const nodeA = new KeyRing(oldKey, [newKey]);
const nodeB = new KeyRing(newKey, [oldKey]);
let tokens: TokenRepository;

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  tokens = tokenRepository(conn, nodeA);
});
afterAll(async () => {
  await db.close();
});

// [case, wrong codes in order as [node, code], fail count after them]
const cases: [string, ['A' | 'B', string][], number][] = [
  ['one wrong code', [['A', '111111']], 1],
  ['the same wrong code again on the same node', [['A', '111111'], ['A', '111111']], 1],
  ['the same wrong code again on a node with the other current key', [['A', '111111'], ['B', '111111']], 1],
  ['and back again', [['B', '111111'], ['A', '111111'], ['B', '111111']], 1],
  ['two different wrong codes', [['A', '111111'], ['B', '222222']], 2],
  ['a wrong code, another, then the first again', [['A', '111111'], ['A', '222222'], ['B', '111111']], 3],
];

test.each(cases)('%s', async (_case, codes, expected) => {
  const serial = `HOTP-${randomBytes(4).toString('hex')}`;
  const t = await tokens.create({ serial, userId: null, origin: 'hardware', kind: 'hotp', state: 'unassigned', algorithm: 'sha1', digits: 6, seed: randomBytes(20) });
  for (const [node, code] of codes) {
    await tokens.recordFailure([t.id], (node === 'A' ? nodeA : nodeB).digests(code, 'failure-digest'), 10, 60);
  }
  expect((await tokens.get(serial)).failCount).toBe(expected);
});
