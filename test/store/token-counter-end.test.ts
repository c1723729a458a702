import { randomBytes } from 'node:crypto';
import { TokenVerifier, type CodeCheck } from '../../src/auth/token-verifier';
import type { TokenRepository } from '../../src/store/tokens';
import { UserRepository } from '../../src/store/users';
import { TokenAdmin } from '../../src/tokens/admin';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * The end of an HOTP counter as PostgreSQL stores it (bigint: up to 2^63-1, "-9223372036854775808 to
 * +9223372036854775807", PostgreSQL Numeric Types) and as `token import` lets a PSKC file set it. A code at
 * the last counter left nothing to store as the next one: the spend failed with "bigint out of range", the
 * login was `fail` (internal_error, a stack in the log, the NAS failing over and retrying), and resync
 * there failed the same way. A code whose next counter cannot be stored is not accepted: the token is used up.
 */
let db: MigratedDatabase;
let tokens: TokenRepository;
let serialNo = 0;
/** The user the tokens here are assigned to: a code is spent only for its token's user (see SpendBatcher). */
let owner: bigint;
const LAST = 2n ** 63n - 1n;

beforeAll(async () => {
  db = await createMigratedDatabase();
  tokens = tokenRepository(db.conn);
  owner = (await new UserRepository(db.conn.db).add({ username: 'enzo', passwordHash: null, method: 'token' })).id;
});
afterAll(() => db.close());

const SETTINGS = { totpWindow: 1, hotpLookAhead: 10, maxFailures: 10, lockSeconds: 60 };

async function hotpAt(counter: bigint): Promise<{ serial: string; seed: Buffer }> {
  const seed = randomSeed();
  const serial = `END-${++serialNo}`;
  await tokens.create({ serial, userId: owner, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed, counter });
  return { serial, seed };
}

// [token's next counter, counter of the code typed, result, next counter afterwards]
const LOGINS: [bigint, bigint, CodeCheck['result'], bigint][] = [
  [LAST - 3n, LAST - 3n, 'accept', LAST - 2n],
  [LAST - 2n, LAST - 1n, 'accept', LAST],
  [LAST - 1n, LAST, 'bad_code', LAST - 1n],
  [LAST, LAST, 'bad_code', LAST],
];

test.each(LOGINS)('a token at counter %s, the code of counter %s: %s, next counter %s', async (start, at, result, next) => {
  const t = await hotpAt(start);
  const check = await new TokenVerifier(tokens, { digests: () => [randomBytes(32)] }, SETTINGS).check([await tokens.getWithSeed(t.serial)], hotpForCounter(t.seed, at));
  expect(check.result).toBe(result);
  expect((await tokens.get(t.serial)).nextCounter).toBe(next);
});

// [token's next counter, counter of the first code, resynced to (or null: refused)]
const RESYNCS: [bigint, bigint, bigint | null][] = [
  [LAST - 10n, LAST - 2n, LAST],
  [LAST - 10n, LAST - 1n, null],
];

test.each(RESYNCS)('resync of a token at counter %s with the codes of %s and the next: next counter %s', async (start, first, next) => {
  const t = await hotpAt(start);
  const admin = new TokenAdmin({ tokens, users: undefined as never }, new TokenVerifier(tokens, { digests: () => [randomBytes(32)] }, SETTINGS), { pendingTokenTtl: 600 });
  const resync = admin.resync(t.serial, hotpForCounter(t.seed, first), hotpForCounter(t.seed, first + 1n));
  if (next === null) await expect(resync).rejects.toThrow(`codes are not two consecutive codes of token ${t.serial} within the resync window`);
  else await expect(resync).resolves.toMatchObject({ nextCounter: next });
  expect((await tokens.get(t.serial)).nextCounter).toBe(next ?? start);
});
