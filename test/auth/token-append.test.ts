import type { PasswordCheck } from '../../src/auth/first-factor';
import type { AuthMethod } from '../../src/auth/method';
import { AuthPipeline } from '../../src/auth/pipeline';
import { PasswordMethod } from '../../src/auth/methods/password';
import { TokenMethod } from '../../src/auth/methods/token';
import type { CodeCheck } from '../../src/auth/token-verifier';
import type { LoginToken } from '../../src/store/tokens';
import type { UserRecord } from '../../src/store/users';

/*
 * The append style: User-Password is the password followed by the code. Each way of splitting the field
 * costs one password hash, and a wrong login costs as many hashes as the field has splits over the code
 * lengths in use in the deployment, decoys making up what the user's own tokens do not: a reject that
 * took more (or fewer) hashes would tell who exists, and who holds tokens of which lengths, by its timing.
 */
const ria: UserRecord = { id: 1n, username: 'ria', passwordHash: 'argon2id-hash', method: 'token', createdAt: new Date(0), updatedAt: new Date(0) };
const tokenOf = (digits: number) => ({ id: BigInt(digits), serial: `SW${digits}`, kind: 'totp', digits }) as LoginToken;
const ocraToken = { id: 99n, serial: 'OC1', kind: 'ocra', digits: 6, ocraSuite: 'OCRA-1:HOTP-SHA1-6:QN08' } as LoginToken;
const GOOD_CODE: Record<number, string> = { 6: '123456', 8: '12345678' };
const client = { name: 'nas', address: '127.0.0.1', loginStyle: 'append' as const };

/**
 * Counts what a login paid: the passwords checked (one hash each) and the decoy hashes. A locked user's
 * candidates are not checked but each costs a decoy, as LocalPasswordFactor does.
 */
function hashLedger(locked = false) {
  const ledger = { checked: [] as string[], decoys: 0 };
  const firstFactor = {
    check: async (_user: UserRecord, candidates: readonly Buffer[]): Promise<PasswordCheck> => {
      if (locked) {
        ledger.decoys += candidates.length;
        return { result: 'locked' };
      }
      for (let index = 0; index < candidates.length; index++) {
        const typed = candidates[index]!.toString('utf8');
        ledger.checked.push(typed);
        if (typed === 'secret') return { result: 'match', index };
      }
      return { result: 'mismatch' };
    },
    burn: async () => {
      ledger.decoys++;
    },
  };
  return { ledger, firstFactor };
}

/** `now`: the code lengths the database holds at the login, where the list in memory (`inUse`) may be late. */
function tokenLogin(typed: string, own: readonly LoginToken[], inUse: readonly number[], locked = false, opts: { allowUsersWithoutToken?: boolean; now?: readonly number[] } = {}) {
  const { ledger, firstFactor } = hashLedger(locked);
  const verifier = {
    check: (tokens: readonly LoginToken[], code: string): CodeCheck => {
      const token = tokens.find((t) => GOOD_CODE[t.digits] === code);
      return token ? { result: 'accept', token } : { result: 'bad_code' };
    },
    retransmission: async () => undefined, // append logins carry no State
  };
  const tokens = { usableForUser: () => [...own], hasDisabledToken: async () => false };
  const method = new TokenMethod(firstFactor, tokens, { issue: async () => Buffer.alloc(20) }, verifier, {
    allowUsersWithoutToken: opts.allowUsersWithoutToken ?? true,
    challengeTtl: 120,
    challengeMessage: 'code?',
    node: 'n1',
    codeLengthsInUse: () => inUse,
    codeLengthsNow: async () => opts.now ?? inUse,
  });
  const outcome = method.start({ user: ria, request: { username: 'ria', password: Buffer.from(typed, 'utf8'), client } });
  return { outcome: Promise.resolve(outcome), ledger };
}

// [typed, the user's code tokens' lengths, lengths in use in the deployment, outcome, passwords checked, decoy hashes]
const cases: [string, number[], number[], { kind: string; reason: string }, string[], number][] = [
  ['secret123456', [6], [6], { kind: 'accept', reason: 'code_ok' }, ['secret'], 0],
  ['secret123456  ', [6], [6], { kind: 'accept', reason: 'code_ok' }, ['secret'], 0],
  ['secret654321', [6], [6], { kind: 'reject', reason: 'bad_code' }, ['secret'], 0],
  ['wrong123456', [6], [6], { kind: 'reject', reason: 'bad_password' }, ['wrong'], 0],
  // no code at the end: the whole field is checked as the password, at the same cost
  ['secret', [6], [6], { kind: 'reject', reason: 'no_code' }, ['secret'], 0],
  ['secret12', [6], [6], { kind: 'reject', reason: 'bad_password' }, ['secret12'], 0],
  ['123456', [6], [6], { kind: 'reject', reason: 'bad_password' }, ['123456'], 0],
  ['wrong', [6], [6], { kind: 'reject', reason: 'bad_password' }, ['wrong'], 0],
  ['', [6], [6], { kind: 'reject', reason: 'bad_password' }, [''], 0],
  // tokens of two lengths: the longer split first, then the shorter
  ['secret12345678', [6, 8], [6, 8], { kind: 'accept', reason: 'code_ok' }, ['secret'], 0],
  ['secret123456', [6, 8], [6, 8], { kind: 'accept', reason: 'code_ok' }, ['secret'], 0],
  ['wrong12345678', [6, 8], [6, 8], { kind: 'reject', reason: 'bad_password' }, ['wrong', 'wrong12'], 0],
  // a deployment with 8-digit tokens: a user of 6-digit ones pays the second hash as a decoy
  ['wrong12345678', [6], [6, 8], { kind: 'reject', reason: 'bad_password' }, ['wrong12'], 1],
  ['wrong123456', [6], [6, 8], { kind: 'reject', reason: 'bad_password' }, ['wrong'], 0],
  ['secret123456', [6], [6, 8], { kind: 'accept', reason: 'code_ok' }, ['secret'], 0],
  // the deployment's list has not caught up with this user's new token yet: the user's own lengths count too
  ['wrong12345678', [6, 8], [6], { kind: 'reject', reason: 'bad_password' }, ['wrong', 'wrong12'], 0],
  // no code token: the field is the password, and a wrong one still pays the deployment's price
  ['secret', [], [6, 8], { kind: 'accept', reason: 'no_token_allowed' }, ['secret'], 0],
  ['wrong12345678', [], [6, 8], { kind: 'reject', reason: 'bad_password' }, ['wrong12345678'], 1],
];

test.each(cases)('append %j, tokens of %j digits, %j in use: %o after checking %j and %d decoys', async (typed, own, inUse, outcome, checked, decoys) => {
  const login = tokenLogin(typed, own.map(tokenOf), inUse);
  expect(await login.outcome).toMatchObject(outcome);
  expect(login.ledger).toEqual({ checked, decoys });
});

// A user without a token, auth.allowUsersWithoutToken off: the field is split at the deployment's code lengths as
// the database holds them at the login, whatever the list in memory says (read again ~1 s after a token change).
// [typed, lengths in the list in memory, lengths in the database now, outcome, passwords checked, decoy hashes]
const withoutToken: [string, number[], number[], { kind: string; reason: string }, string[], number][] = [
  ['secret123456', [6], [6], { kind: 'reject', reason: 'no_token' }, ['secret'], 0],
  ['secret12345678', [6, 8], [6, 8], { kind: 'reject', reason: 'no_token' }, ['secret'], 0],
  ['wrong12345678', [6], [6], { kind: 'reject', reason: 'bad_password' }, ['wrong12'], 0],
  // the first 8-digit token, active a moment ago: the list in memory has not heard of it yet
  ['secret12345678', [6], [6, 8], { kind: 'reject', reason: 'no_token' }, ['secret'], 0],
  ['wrong12345678', [6], [6, 8], { kind: 'reject', reason: 'bad_password' }, ['wrong', 'wrong12'], 0],
  // the last 8-digit token, gone a moment ago: the field no longer splits there
  ['secret12345678', [6, 8], [6], { kind: 'reject', reason: 'bad_password' }, ['secret12'], 1],
  ['secret', [6], [6], { kind: 'reject', reason: 'no_token' }, ['secret'], 0],
];

test.each(withoutToken)('no token, append %j, %j in memory, %j in the database: %o after checking %j and %d decoys', async (typed, inUse, now, outcome, checked, decoys) => {
  const login = tokenLogin(typed, [], inUse, false, { allowUsersWithoutToken: false, now });
  expect(await login.outcome).toMatchObject(outcome);
  expect(login.ledger).toEqual({ checked, decoys });
});

test('a locked user is rejected as locked, whatever they typed', async () => {
  for (const typed of ['secret123456', 'wrong123456', 'secret']) {
    const login = tokenLogin(typed, [tokenOf(6)], [6], true);
    expect(await login.outcome).toMatchObject({ kind: 'reject', reason: 'password_locked' });
    expect(login.ledger.checked).toEqual([]);
  }
});

test('a user with only OCRA tokens is challenged after the password, and pays the deployment price when it is wrong', async () => {
  const right = tokenLogin('secret', [ocraToken], [6, 8]);
  expect(await right.outcome).toMatchObject({ kind: 'challenge' });
  const wrong = tokenLogin('wrong12345678', [ocraToken], [6, 8]);
  expect(await wrong.outcome).toMatchObject({ kind: 'reject', reason: 'bad_password' });
  expect(wrong.ledger).toEqual({ checked: ['wrong12345678'], decoys: 1 });
});

/** Every kind of name a wrong append login can carry, and the hashes it paid. */
async function hashesPaid(typed: string, who: 'unknown' | 'password' | number[], inUse: number[], locked = false): Promise<number> {
  const { ledger, firstFactor } = hashLedger(locked);
  const decoys = { firstFactor, codeLengthsInUse: () => inUse };
  const user = who === 'unknown' ? undefined : { ...ria, method: who === 'password' ? 'password' : 'token' };
  const token = tokenLogin(typed, Array.isArray(who) ? who.map(tokenOf) : [], inUse, locked);
  const methods = new Map<string, AuthMethod>([['password', new PasswordMethod(firstFactor, () => inUse)]]);
  const pipeline = new AuthPipeline({ find: () => user }, { take: async () => undefined, isLive: async () => false }, methods, undefined, decoys);
  if (Array.isArray(who)) {
    expect(await token.outcome).toMatchObject({ kind: 'reject' });
    return token.ledger.checked.length + token.ledger.decoys;
  }
  expect(await pipeline.decide({ username: 'ria', password: Buffer.from(typed, 'utf8'), client })).toMatchObject({ kind: 'reject' });
  return ledger.checked.length + ledger.decoys;
}

const deployments = [[6], [8], [6, 8], [6, 7, 8, 10]];
const typedFields = ['wrong', 'wrong1', 'wrong123456', 'wrong1234567', 'wrong12345678', 'wrong1234567890', 'x 12345678', '12345678', '', 'wrong123456   '];

describe.each(deployments)('a wrong append login costs the same for everyone (lengths in use %j)', (...inUse) => {
  const holders = [...new Set(inUse.map((d) => [d]).concat([inUse]))];
  test.each(typedFields)('%j', async (typed) => {
    const price = await hashesPaid(typed, 'unknown', inUse);
    expect(await hashesPaid(typed, 'password', inUse)).toBe(price);
    for (const own of holders) expect([own, await hashesPaid(typed, own, inUse)]).toEqual([own, price]);
    // locked out by wrong passwords: nothing typed is checked, at the same price
    expect(['locked', await hashesPaid(typed, 'password', inUse, true)]).toEqual(['locked', price]);
    for (const own of holders) expect(['locked', own, await hashesPaid(typed, own, inUse, true)]).toEqual(['locked', own, price]);
    expect(price).toBeGreaterThanOrEqual(1);
  });
});
