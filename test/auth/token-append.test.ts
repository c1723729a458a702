import { TokenMethod } from '../../src/auth/methods/token';
import type { CodeCheck } from '../../src/auth/token-verifier';
import type { LoginToken } from '../../src/store/tokens';
import type { UserRecord } from '../../src/store/users';

/*
 * The append style: User-Password is the password followed by the code. Whatever is typed, a known user's
 * login checks the password once, as an unknown user's does (the pipeline's decoy hash): a reject that
 * came without a hash would tell the names that exist from those that do not by its timing.
 */
const ria: UserRecord = { id: 1n, username: 'ria', passwordHash: 'argon2id-hash', method: 'token', createdAt: new Date(0), updatedAt: new Date(0) };
const token = { id: 7n, serial: 'SW7', kind: 'totp', digits: 6 } as LoginToken;

function appendLogin(typed: string) {
  const checked: string[] = [];
  const firstFactor = {
    verify: async (_user: UserRecord, password: Buffer | undefined) => {
      checked.push(password?.toString('utf8') ?? '');
      return password?.toString('utf8') === 'secret';
    },
  };
  const verifier = {
    check: (_tokens: readonly LoginToken[], code: string): CodeCheck => (code === '123456' ? { result: 'accept', token } : { result: 'bad_code' }),
  };
  const tokens = { usableForUser: () => [token], hasDisabledToken: async () => false };
  const method = new TokenMethod(firstFactor, tokens, { issue: async () => Buffer.alloc(20) }, verifier, {
    allowUsersWithoutToken: false,
    challengeTtl: 120,
    challengeMessage: 'code?',
    node: 'n1',
  });
  const outcome = method.start({ user: ria, request: { username: 'ria', password: Buffer.from(typed, 'utf8'), client: { name: 'nas', address: '127.0.0.1', loginStyle: 'append' } } });
  return { outcome: Promise.resolve(outcome), checked };
}

// [typed, outcome, the passwords checked (each is one hash)]
const cases: [string, { kind: string; reason: string }, string[]][] = [
  ['secret123456', { kind: 'accept', reason: 'code_ok' }, ['secret']],
  ['secret123456  ', { kind: 'accept', reason: 'code_ok' }, ['secret']],
  ['secret654321', { kind: 'reject', reason: 'bad_code' }, ['secret']],
  ['wrong123456', { kind: 'reject', reason: 'bad_password' }, ['wrong']],
  // no code at the end: the whole field is checked as the password, at the same cost
  ['secret', { kind: 'reject', reason: 'no_code' }, ['secret']],
  ['secret12', { kind: 'reject', reason: 'bad_password' }, ['secret12']],
  ['123456', { kind: 'reject', reason: 'bad_password' }, ['123456']],
  ['wrong', { kind: 'reject', reason: 'bad_password' }, ['wrong']],
  ['', { kind: 'reject', reason: 'bad_password' }, ['']],
];

test.each(cases)('append %j: %o after checking %j', async (typed, outcome, checked) => {
  const login = appendLogin(typed);
  expect(await login.outcome).toMatchObject(outcome);
  expect(login.checked).toEqual(checked);
});
