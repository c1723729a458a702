import { LocalPasswordFactor, type PasswordCheck, type PasswordHashPurpose, type PasswordStore } from '../../src/auth/first-factor';
import { hashPassword } from '../../src/auth/password-hash';
import { UserChangedError, UserRemovedError } from '../../src/store/errors';
import type { UserRecord } from '../../src/store/users';

/*
 * The local password with its lockout: every login pays one hash per candidate whatever happens (a real
 * check or a decoy), a locked user's password is never checked, one login counts as one wrong password
 * however many candidates it had, and a right password clears the count unless a lock won the race.
 */
const user: UserRecord = { id: 7n, username: 'ria', passwordHash: null, method: 'password', createdAt: new Date(0), updatedAt: new Date(0) };
let secretHash: string;

beforeAll(async () => {
  secretHash = await hashPassword('secret');
});

function fakeStore(stored: 'secret' | 'none', locked: boolean, lockedByTheTimeOfSuccess = false) {
  const calls = { failures: 0, settled: 0 };
  const store: PasswordStore = {
    state: async () => ({ hash: stored === 'secret' ? secretHash : null, locked, found: true, method: 'password' }),
    recordFailure: async (_id, max, seconds) => {
      expect([max, seconds]).toEqual([5, 60]);
      calls.failures++;
    },
    settleSuccess: async () => {
      calls.settled++;
      return { locked: lockedByTheTimeOfSuccess };
    },
  };
  return { store, calls };
}

type Row = [string, 'secret' | 'none', boolean, boolean, string[], PasswordCheck, { check: number; decoy: number }, { failures: number; settled: number }];

// [case, stored password, locked when read, locked when settling, candidates, result, hashes, store writes]
const cases: Row[] = [
  ['the right password', 'secret', false, false, ['secret'], { result: 'match', index: 0 }, { check: 1, decoy: 0 }, { failures: 0, settled: 1 }],
  ['a wrong one counts once', 'secret', false, false, ['guess'], { result: 'mismatch' }, { check: 1, decoy: 0 }, { failures: 1, settled: 0 }],
  ['two wrong candidates count once', 'secret', false, false, ['guess', 'guess12'], { result: 'mismatch' }, { check: 2, decoy: 0 }, { failures: 1, settled: 0 }],
  ['the second candidate right', 'secret', false, false, ['secret12', 'secret'], { result: 'match', index: 1 }, { check: 2, decoy: 0 }, { failures: 0, settled: 1 }],
  ['an empty password is a wrong one, at the same cost', 'secret', false, false, [''], { result: 'mismatch' }, { check: 0, decoy: 1 }, { failures: 1, settled: 0 }],
  ['locked: the right password is not checked', 'secret', true, false, ['secret'], { result: 'locked' }, { check: 0, decoy: 1 }, { failures: 0, settled: 0 }],
  ['locked: each candidate still costs a hash', 'secret', true, false, ['guess', 'guess12'], { result: 'locked' }, { check: 0, decoy: 2 }, { failures: 0, settled: 0 }],
  ['locked by racing guesses while hashing', 'secret', false, true, ['secret'], { result: 'locked' }, { check: 1, decoy: 0 }, { failures: 0, settled: 1 }],
  ['no local password: a decoy, nothing counted', 'none', false, false, ['secret'], { result: 'mismatch' }, { check: 0, decoy: 1 }, { failures: 0, settled: 0 }],
];

test.each(cases)('%s', async (_case, stored, locked, lockedAtSuccess, candidates, result, hashes, writes) => {
  const { store, calls } = fakeStore(stored, locked, lockedAtSuccess);
  const counted = { check: 0, decoy: 0 };
  const factor = new LocalPasswordFactor(store, { maxFailures: 5, lockSeconds: 60 }, (p: PasswordHashPurpose) => counted[p]++);
  expect(await factor.check(user, candidates.map((c) => Buffer.from(c, 'utf8')))).toEqual(result);
  expect(counted).toEqual(hashes);
  expect(calls).toEqual(writes);
});

test('a user removed since the login found them: each candidate costs a decoy, nothing is counted, and it says so', async () => {
  const { store, calls } = fakeStore('none', false);
  store.state = async () => ({ hash: null, locked: false, found: false, method: null });
  const counted = { check: 0, decoy: 0 };
  const factor = new LocalPasswordFactor(store, { maxFailures: 5, lockSeconds: 60 }, (p: PasswordHashPurpose) => counted[p]++);
  await expect(factor.check(user, [Buffer.from('secret12'), Buffer.from('secret')])).rejects.toBeInstanceOf(UserRemovedError);
  expect(counted).toEqual({ check: 0, decoy: 2 });
  expect(calls).toEqual({ failures: 0, settled: 0 });
});

test("a user whose method changed since the login found them (a cache that had not heard): nothing hashed or counted, and it says so", async () => {
  const { store, calls } = fakeStore('secret', false);
  store.state = async () => ({ hash: secretHash, locked: false, found: true, method: 'token' });
  const counted = { check: 0, decoy: 0 };
  const factor = new LocalPasswordFactor(store, { maxFailures: 5, lockSeconds: 60 }, (p: PasswordHashPurpose) => counted[p]++);
  await expect(factor.check(user, [Buffer.from('secret')])).rejects.toBeInstanceOf(UserChangedError);
  expect(counted).toEqual({ check: 0, decoy: 0 });
  expect(calls).toEqual({ failures: 0, settled: 0 });
});
