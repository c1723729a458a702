import { createGuardrails, generateSync, verifySync } from 'otplib';
import { base32Encode, findHotpMatch, findTotpMatch, hotp, totp, type HashAlgorithm } from '../../src/otp';
import { seededRandom } from './support';

/*
 * otplib 13.5 is an independent RFC 4226/6238 implementation (pure-JS noble hashes). Our
 * node:crypto version must agree with it on random keys, times, counters, algorithms and digits.
 * Its guardrails reject secrets under 16 bytes (real hardware tokens have 10-byte seeds) and over 64, so relax them.
 */
const guardrails = createGuardrails({ MIN_SECRET_BYTES: 1, MAX_SECRET_BYTES: 128 });
const ALGORITHMS: readonly HashAlgorithm[] = ['sha1', 'sha256', 'sha512'];
const DIGITS = [6, 7, 8] as const;
const SEED = 20261123;
const CASES = 300;

function randomCase(rng: ReturnType<typeof seededRandom>) {
  return {
    key: rng.bytes(1 + rng.int(80)),
    algorithm: rng.pick(ALGORITHMS),
    digits: rng.pick(DIGITS),
    period: rng.pick([30, 60]),
    time: rng.int(4_000_000_000),
    counter: rng.int(2 ** 40),
  };
}

describe(`otplib cross-check (seed ${SEED})`, () => {
  it(`HOTP agrees on ${CASES} random cases`, () => {
    const rng = seededRandom(SEED);
    for (let i = 0; i < CASES; i++) {
      const c = randomCase(rng);
      const theirs = generateSync({ strategy: 'hotp', secret: c.key, counter: c.counter, algorithm: c.algorithm, digits: c.digits, guardrails });
      expect([i, hotp(c.key, BigInt(c.counter), c.digits, c.algorithm)]).toEqual([i, theirs]);
    }
  });

  it(`TOTP agrees on ${CASES} random cases`, () => {
    const rng = seededRandom(SEED + 1);
    for (let i = 0; i < CASES; i++) {
      const c = randomCase(rng);
      const theirs = generateSync({ secret: c.key, epoch: c.time, period: c.period, algorithm: c.algorithm, digits: c.digits, guardrails });
      expect([i, totp(c.key, c.time, { digits: c.digits, period: c.period, algorithm: c.algorithm })]).toEqual([i, theirs]);
    }
  });

  it('accepts a base32 string secret the same way otplib does', () => {
    const rng = seededRandom(SEED + 2);
    for (let i = 0; i < 50; i++) {
      const c = randomCase(rng);
      const theirs = generateSync({ secret: base32Encode(c.key), epoch: c.time, guardrails });
      expect(totp(c.key, c.time, { digits: 6, period: 30, algorithm: 'sha1' })).toBe(theirs);
    }
  });

  it('window verification agrees with otplib verifySync (±2 steps, replay bound)', () => {
    const rng = seededRandom(SEED + 3);
    const outcomes = { valid: 0, invalid: 0 };
    for (let i = 0; i < 100; i++) {
      const c = randomCase(rng);
      const p = { digits: c.digits, period: c.period, algorithm: c.algorithm };
      const offset = rng.int(7) - 3; // −3..+3, so some fall outside ±2
      const code = totp(c.key, c.time + offset * c.period, p);
      const afterStep = rng.int(3) === 0 ? Math.floor(c.time / c.period) : undefined;
      const theirs = verifySync({
        secret: c.key,
        token: code,
        epoch: c.time,
        epochTolerance: 2 * c.period,
        afterTimeStep: afterStep,
        guardrails,
        ...p,
      });
      const ours = findTotpMatch(c.key, code, p, { now: c.time, driftSteps: 0, window: 2, afterStep });
      expect([i, ours !== null]).toEqual([i, theirs.valid]);
      if (theirs.valid && 'timeStep' in theirs) expect(ours?.step).toBe(theirs.timeStep);
      outcomes[theirs.valid ? 'valid' : 'invalid']++;
    }
    // The random offsets and replay bounds must exercise both answers, or the loop proves nothing.
    expect(outcomes.valid).toBeGreaterThan(20);
    expect(outcomes.invalid).toBeGreaterThan(20);
  });

  it('HOTP look-ahead agrees with otplib counterTolerance', () => {
    const rng = seededRandom(SEED + 4);
    const outcomes = { valid: 0, invalid: 0 };
    for (let i = 0; i < 100; i++) {
      const c = randomCase(rng);
      const used = c.counter + rng.int(15) - 3; // some behind nextCounter, some beyond the look-ahead
      const code = hotp(c.key, Math.max(0, used), c.digits, c.algorithm);
      const theirs = verifySync({ strategy: 'hotp', secret: c.key, token: code, counter: c.counter, counterTolerance: 10, algorithm: c.algorithm, digits: c.digits, guardrails });
      const ours = findHotpMatch(c.key, code, { algorithm: c.algorithm, digits: c.digits }, { nextCounter: BigInt(c.counter), lookAhead: 10 });
      expect([i, ours !== null]).toEqual([i, theirs.valid]);
      if (ours !== null && theirs.valid) expect(ours.counter - BigInt(c.counter)).toBe(BigInt(theirs.delta));
      outcomes[theirs.valid ? 'valid' : 'invalid']++;
    }
    expect(outcomes.valid).toBeGreaterThan(20);
    expect(outcomes.invalid).toBeGreaterThan(20);
  });

  it('where otplib throws on a malformed token, we return null', () => {
    const key = Buffer.alloc(20, 7);
    for (const token of ['12345', '1234567', '12a456', '']) {
      expect(() => verifySync({ secret: key, token, epoch: 1_700_000_000, guardrails })).toThrow();
      expect(findTotpMatch(key, token, { digits: 6, period: 30, algorithm: 'sha1' }, { now: 1_700_000_000, driftSteps: 0, window: 1 })).toBeNull();
    }
  });
});
