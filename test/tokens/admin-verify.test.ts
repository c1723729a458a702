import { TokenVerifier } from '../../src/auth/token-verifier';
import { hotp } from '../../src/otp';
import type { TokenWithSeed } from '../../src/store/tokens';
import { TokenAdmin } from '../../src/tokens/admin';

/*
 * `token verify` reads the token, checks the code, and spends it with the guarded UPDATE. When a login
 * on a server changes the row in between, the spend loses; what the admin is told (and the audit row)
 * must then say why, from the row as it is after the race, not guess `replay`.
 */
const seed = Buffer.from('12345678901234567890');
const base = { id: 1n, serial: 'HOTP-1', username: 'ann', userId: 7n, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, period: 30, t0: 0n, ocraSuite: null, lastStep: 0n, nextCounter: 0n, drift: 0, failCount: 0, lockedUntil: null, seed } as unknown as TokenWithSeed;

// [what a login did meanwhile, the row afterwards, the result]
const cases: [string, Partial<TokenWithSeed>, string][] = [
  ['locked the token (its 10th wrong code)', { failCount: 10, lockedUntil: new Date(Date.now() + 600_000) }, 'locked'],
  ['spent this very code', { nextCounter: 1n }, 'replay'],
];

test.each(cases)('a login that %s between the read and the spend (row after: %o): refused as %s', async (_what, after, result) => {
  const reads = [base, { ...base, ...after }];
  const audit: { result?: string; reason: string }[] = [];
  const store = { tokens: { getWithSeed: async () => reads.shift() ?? { ...base, ...after } }, users: {} };
  // the row as the login left it, still ann's: the spend lost on the login's change, not on an owner change
  const lastSpend = async () => ({ userId: 7n, lastStep: 0n, nextCounter: after.nextCounter ?? 0n, spentBy: null, recent: true, state: 'active' as const, lockedUntil: after.lockedUntil ?? null, ownerMethod: 'token', valid: true });
  const repo = { acceptStep: async () => false, acceptCounter: async () => false, isStillSpendable: async () => true, recordFailure: async () => {}, lastSpend };
  const verifier = new TokenVerifier(repo, { digests: () => [Buffer.alloc(32)] }, { totpWindow: 1, hotpLookAhead: 10, maxFailures: 10, lockSeconds: 600 });
  const admin = new TokenAdmin(store as never, verifier, { pendingTokenTtl: 600, audit: async (e) => void audit.push({ result: e.result, reason: e.reason }) });
  const code = hotp(seed, 0n, 6);
  expect(await admin.verify('HOTP-1', code)).toEqual({ ok: false, result, lockedUntil: after.lockedUntil ?? undefined });
  expect(audit).toEqual([{ result: 'reject', reason: result }]);
});
