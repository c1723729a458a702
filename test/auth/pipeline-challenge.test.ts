import { AuthPipeline } from '../../src/auth/pipeline';
import { accept, fail, reject, type Decision } from '../../src/auth/decision';
import type { AuthMethod } from '../../src/auth/method';
import type { PendingChallenge } from '../../src/store/challenges';
import type { UserRecord } from '../../src/store/users';
import { KeyError } from '../../src/secrets/keyring';

/*
 * Answering a challenge consumes it (single use). When no decision comes of the answer (the database
 * failed halfway: `fail`, no reply), the NAS retries or fails over to another node, and that retry must
 * find the challenge again instead of being rejected as expired. A decided answer stays consumed.
 */
const STATE = Buffer.concat([Buffer.from('rotp'), Buffer.alloc(16, 7)]);
const ria: UserRecord = { id: 1n, username: 'ria', passwordHash: null, method: 'token', createdAt: new Date(0), updatedAt: new Date(0) };
const pending: PendingChallenge = { state: STATE, userId: 1n, kind: 'token', data: {}, node: 'n1', expiresAt: new Date(Date.now() + 60_000) };
const dbDown = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

function pipelineWith(resume: () => Promise<Decision>) {
  const restored: PendingChallenge[] = [];
  let live = true;
  const challenges = {
    take: async (state: Buffer, userId: bigint) => {
      if (!live || !state.equals(STATE) || userId !== pending.userId) return undefined;
      live = false;
      const release = async () => {
        restored.push(pending);
        live = true;
      };
      return { challenge: pending, consume: async () => {}, release };
    },
    isLive: async () => live,
  };
  const method: AuthMethod = { name: 'token', start: () => reject('unused'), resume };
  const users = { find: (name: string) => (name === 'ria' ? ria : undefined) };
  const pipeline = new AuthPipeline(users, challenges, new Map([['token', method]]));
  const answer = (username: string) =>
    pipeline.decide({ username, password: Buffer.from('123456'), state: STATE, client: { name: 'nas', address: '127.0.0.1', loginStyle: 'challenge' } });
  return { answer, restored, isLive: () => live };
}

// [case, what the method's resume does, outcome, challenge put back]
const cases: [string, () => Promise<Decision>, { kind: string; reason: string }, boolean][] = [
  ['a right code: accepted, the challenge stays consumed', async () => accept('code_ok'), { kind: 'accept', reason: 'code_ok' }, false],
  ['a wrong code: rejected, consumed', async () => reject('bad_code'), { kind: 'reject', reason: 'bad_code' }, false],
  ['the database fails in the method (thrown): fail, put back', async () => Promise.reject(dbDown()), { kind: 'fail', reason: 'database_unavailable' }, true],
  ['the method itself answers fail: put back', async () => fail('database_unavailable'), { kind: 'fail', reason: 'database_unavailable' }, true],
];

test.each(cases)('%s', async (_case, resume, outcome, putBack) => {
  const p = pipelineWith(resume);
  expect(await p.answer('ria')).toMatchObject(outcome);
  expect(p.restored).toEqual(putBack ? [pending] : []);
  expect(p.isLive()).toBe(putBack);
});

test("another user's name with the State consumes nothing: rejected as a mismatch, and the real user's answer still works", async () => {
  const p = pipelineWith(async () => accept('code_ok'));
  expect(await p.answer('sam')).toMatchObject({ kind: 'reject', reason: 'challenge_user_mismatch' });
  expect(p.isLive()).toBe(true);
  expect(await p.answer('ria')).toMatchObject({ kind: 'accept', reason: 'code_ok' });
  expect(await p.answer('ria')).toMatchObject({ kind: 'reject', reason: 'challenge_expired' });
});

describe('an unknown user is answered as a known one would be', () => {
  const pipeline = new AuthPipeline({ find: () => undefined }, { take: async () => undefined, isLive: async () => false }, new Map());
  const login = (loginStyle: 'challenge' | 'append' | 'otp-only') =>
    pipeline.decide({ username: 'nobody', password: Buffer.from('123456'), client: { name: 'nas', address: '127.0.0.1', loginStyle } });

  test('otp-only (a token login checks no password): rejected at once, with no decoy password hash', () => {
    const outcome = login('otp-only');
    expect(outcome).not.toBeInstanceOf(Promise);
    expect(outcome).toMatchObject({ kind: 'reject', reason: 'unknown_user' });
  });

  test.each(['challenge', 'append'] as const)('%s (a login checks a password): rejected after a decoy hash of the same cost', async (style) => {
    const outcome = login(style);
    expect(outcome).toBeInstanceOf(Promise);
    expect(await outcome).toMatchObject({ kind: 'reject', reason: 'unknown_user' });
  });
});

describe('what keeps a login from being decided is fail (no answer: the NAS tries another node), never a reject', () => {
  const user: UserRecord = { ...ria, passwordHash: 'h' };
  const decideWith = (thrown: unknown) => {
    const seen: unknown[] = [];
    const method: AuthMethod = { name: 'token', start: () => Promise.reject(thrown), resume: async () => reject('unused') };
    const pipeline = new AuthPipeline({ find: () => user }, { take: async () => undefined, isLive: async () => false }, new Map([['token', method]]), (e) => seen.push(e));
    return { outcome: pipeline.decide({ username: 'ria', password: Buffer.from('pw'), client: { name: 'nas', address: '127.0.0.1', loginStyle: 'challenge' } }), seen };
  };
  // [case, what the method threw, the reason, reported to the operator]
  const cases: [string, unknown, string, boolean][] = [
    ['the database is away', dbDown(), 'database_unavailable', false],
    ['the database refuses the work (disk full)', Object.assign(new Error('No space left on device'), { code: '53100' }), 'database_unavailable', true],
    // pg's and pg-pool's own errors (no SQLSTATE): each calls for another action, so each has its reason
    ['a new connection could not be made within 3 s (host gone)', new Error('Connection terminated due to connection timeout'), 'database_unavailable', false],
    ['a statement outlived database.queryTimeout (a lock, a slow query)', new Error('Query read timeout'), 'database_timeout', true],
    ['every pooled connection stayed busy for the 3 s wait (database.poolSize)', new Error('timeout exceeded when trying to connect'), 'database_pool_exhausted', true],
    ["a seed sealed under a key this node's config lacks", new KeyError('sealed with key 00ff, which this node does not hold'), 'key_unavailable', true],
    ['a bug', new TypeError('x is undefined'), 'internal_error', true],
  ];
  test.each(cases)('%s: fail %s', async (_case, thrown, reason, reported) => {
    const d = decideWith(thrown);
    expect(await d.outcome).toMatchObject({ kind: 'fail', reason });
    expect(d.seen).toEqual(reported ? [thrown] : []);
  });
});
