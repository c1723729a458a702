import { randomBytes } from 'node:crypto';
import type { Connection } from '../../src/store/connect';
import type { NewToken, TokenRepository } from '../../src/store/tokens';
import { UserRepository } from '../../src/store/users';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * The code lengths in use: those a field typed in the append style can end in, anywhere in the
 * deployment. Only tokens that can log someone in with a code count.
 */
let db: MigratedDatabase;
let conn: Connection;
let tokens: TokenRepository;
let userId: bigint;

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  tokens = tokenRepository(conn);
  userId = (await new UserRepository(conn.db).add({ username: 'ria', passwordHash: null, method: 'token' })).id;
});
afterAll(() => db.close());

let serial = 0;
/** A token of ria's (the user exists only once the database does, hence a function). */
function token(digits: number, change: Partial<NewToken> = {}): () => NewToken {
  return () => ({ serial: `LEN-${++serial}`, userId, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits, seed: randomBytes(20), ...change });
}

// [a token added, the lengths in use after it, the token]
const steps: [string, number[], () => NewToken][] = [
  ['an 8-digit token in the pool (assigned to nobody)', [], token(8, { userId: null, state: 'unassigned' })],
  ['a pending 7-digit enrollment', [], token(7, { state: 'pending' })],
  ['a disabled 9-digit token', [], token(9, { state: 'disabled' })],
  ['an assigned OCRA token with 10-digit responses (answers a challenge, never appended)', [], token(10, { kind: 'ocra', ocraSuite: 'OCRA-1:HOTP-SHA1-10:QN08' })],
  ['an active 6-digit TOTP token', [6], token(6, { kind: 'totp', origin: 'software' })],
  ['another 6-digit one', [6], token(6)],
  ['an active 8-digit HOTP token', [6, 8], token(8)],
];

test.each(steps)('after %s: %j', async (_what, expected, added) => {
  await tokens.create(added());
  expect(await tokens.codeLengthsInUse()).toEqual(expected);
});
