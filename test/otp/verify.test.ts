import { findHotpMatch, findTotpMatch, hotp, isWellFormedCode, timeStep, totp, type HashAlgorithm } from '../../src/otp';

const key = Buffer.from('3132333435363738393031323334353637383930', 'hex');
const totpParams = { algorithm: 'sha1' as HashAlgorithm, digits: 6, period: 30 };
const NOW = 1_700_000_015; // mid-step, so ±1 step is unambiguous
const CURRENT = timeStep(NOW, 30);
const codeAtStep = (step: number, p = totpParams): string => hotp(key, step, p.digits, p.algorithm);

/**
 * Codes of neighbouring steps can collide (1 in 10^6 per pair). The window assertions below rely on
 * the code at `step` appearing nowhere else in the searched range, so check that first.
 */
function uniqueWithin(step: number, from: number, to: number): boolean {
  const code = codeAtStep(step);
  for (let s = from; s <= to; s++) if (s !== step && codeAtStep(s) === code) return false;
  return true;
}

describe('isWellFormedCode', () => {
  it.each([
    ['123456', 6, true],
    ['000000', 6, true],
    ['12345678', 8, true],
    ['12345', 6, false],
    ['1234567', 6, false],
    ['', 6, false],
    ['12345a', 6, false],
    ['12 456', 6, false],
    [' 123456', 6, false],
    ['-12345', 6, false],
    ['+12345', 6, false],
    ['1.2345', 6, false],
    ['１２３４５６', 6, false], // full-width digits
    ['١٢٣٤٥٦', 6, false], // Arabic-Indic digits
    ['1e5000', 6, false],
    ['123456', 0, false],
    ['123456', 6.5, false],
    ['12345678901', 11, false],
    [null, 6, false],
    [123456, 6, false],
    [undefined, 6, false],
  ])('%p with %p digits -> %p', (code, digits, expected) => {
    expect(isWellFormedCode(code as string, digits)).toBe(expected);
  });
});

describe('findTotpMatch', () => {
  const search = { now: NOW, driftSteps: 0, window: 1 };

  it('accepts the current code with drift 0', () => {
    expect(findTotpMatch(key, totp(key, NOW, totpParams), totpParams, search)).toEqual({ step: CURRENT, drift: 0 });
  });

  it.each([-1, 1])('accepts a code %i step(s) away inside window 1 and reports the drift', (offset) => {
    expect(findTotpMatch(key, codeAtStep(CURRENT + offset), totpParams, search)).toEqual({ step: CURRENT + offset, drift: offset });
  });

  it.each([-2, 2, 10])('refuses a code %i steps away with window 1', (offset) => {
    expect(uniqueWithin(CURRENT + offset, CURRENT - 1, CURRENT + 1)).toBe(true);
    expect(findTotpMatch(key, codeAtStep(CURRENT + offset), totpParams, search)).toBeNull();
  });

  it('window 0 only accepts the centre step', () => {
    expect(findTotpMatch(key, codeAtStep(CURRENT - 1), totpParams, { ...search, window: 0 })).toBeNull();
    expect(findTotpMatch(key, codeAtStep(CURRENT), totpParams, { ...search, window: 0 })).not.toBeNull();
  });

  it('learnt drift centres the window: a clock 5 steps fast matches with window 1', () => {
    const fastClockCode = codeAtStep(CURRENT + 5);
    expect(findTotpMatch(key, fastClockCode, totpParams, search)).toBeNull();
    expect(findTotpMatch(key, fastClockCode, totpParams, { ...search, driftSteps: 5 })).toEqual({ step: CURRENT + 5, drift: 5 });
    expect(findTotpMatch(key, codeAtStep(CURRENT + 6), totpParams, { ...search, driftSteps: 5 })).toEqual({ step: CURRENT + 6, drift: 6 });
    // ... and the current step is now outside the window around +5.
    expect(uniqueWithin(CURRENT, CURRENT + 4, CURRENT + 6)).toBe(true);
    expect(findTotpMatch(key, codeAtStep(CURRENT), totpParams, { ...search, driftSteps: 5 })).toBeNull();
  });

  it('afterStep blocks a replay of the same step (RFC 6238 §5.2)', () => {
    const code = codeAtStep(CURRENT);
    const first = findTotpMatch(key, code, totpParams, search);
    expect(first).toEqual({ step: CURRENT, drift: 0 });
    expect(findTotpMatch(key, code, totpParams, { ...search, afterStep: first?.step })).toBeNull();
  });

  it('afterStep blocks earlier steps but not later ones', () => {
    expect(findTotpMatch(key, codeAtStep(CURRENT - 1), totpParams, { ...search, afterStep: CURRENT - 1 })).toBeNull();
    expect(findTotpMatch(key, codeAtStep(CURRENT + 1), totpParams, { ...search, afterStep: CURRENT })).toEqual({ step: CURRENT + 1, drift: 1 });
  });

  it('tries the centre first, so with two matching steps the closer one wins', () => {
    // With one-digit codes, steps sharing a code are common: find two within 3 steps of each other.
    const p = { algorithm: 'sha1' as HashAlgorithm, digits: 1, period: 30 };
    let duplicate: { code: string; near: number; far: number } | null = null;
    for (let s = CURRENT; s < CURRENT + 200 && duplicate === null; s++) {
      const code = codeAtStep(s, p);
      for (let d = 1; d <= 3; d++) {
        if (codeAtStep(s + d, p) === code) duplicate = { code, near: s, far: s + d };
      }
    }
    expect(duplicate).not.toBeNull();
    const { code, near, far } = duplicate as { code: string; near: number; far: number };
    // Centre on `near`: it must win over `far`; centre on `far`: `far` must win.
    const atNear = findTotpMatch(key, code, p, { now: NOW, driftSteps: near - CURRENT, window: 3 });
    const atFar = findTotpMatch(key, code, p, { now: NOW, driftSteps: far - CURRENT, window: 3 });
    expect(atNear?.step).toBe(near);
    expect(atFar?.step).toBe(far);
  });

  it('honours t0 and a 60 s period', () => {
    const p = { algorithm: 'sha256' as HashAlgorithm, digits: 8, period: 60, t0: 1_000 };
    const code = totp(key, NOW, p);
    expect(findTotpMatch(key, code, p, search)).toEqual({ step: timeStep(NOW, 60, 1_000), drift: 0 });
    expect(findTotpMatch(key, code, { ...p, t0: 0 }, { ...search, window: 0 })).toBeNull();
  });

  it('never matches a step before T0', () => {
    const p = { ...totpParams, t0: NOW };
    // At now = t0 the current step is 0; step −1 does not exist, so the window is 0..1.
    expect(findTotpMatch(key, hotp(key, 0, 6), p, { now: NOW, driftSteps: 0, window: 1 })).toEqual({ step: 0, drift: 0 });
    expect(findTotpMatch(key, hotp(key, 0, 6), p, { now: NOW - 30, driftSteps: 0, window: 1 })).toEqual({ step: 0, drift: 1 });
  });

  it.each([['12345'], ['1234567'], ['abcdef'], [''], ['12345\u0000'], [null], [{}]])('malformed %p is null, not a throw', (code) => {
    expect(findTotpMatch(key, code as string, totpParams, { ...search, window: 10 })).toBeNull();
  });

  it.each([
    [{ ...search, window: -1 }],
    [{ ...search, window: 1.5 }],
    [{ ...search, driftSteps: Number.NaN }],
  ])('caller bugs in the search options throw RangeError: %p', (opts) => {
    expect(() => findTotpMatch(key, '123456', totpParams, opts)).toThrow(RangeError);
  });
});

describe('findHotpMatch', () => {
  const p = { algorithm: 'sha1' as HashAlgorithm, digits: 6 };
  const at = (c: number | bigint): string => hotp(key, c, 6);

  it.each([
    [10n, 10, 10n],
    [10n, 10, 13n],
    [10n, 10, 20n],
    [0n, 0, 0n],
  ])('from nextCounter %p with lookAhead %p finds the code of counter %p', (nextCounter, lookAhead, counter) => {
    expect(findHotpMatch(key, at(counter), p, { nextCounter, lookAhead })).toEqual({ counter });
  });

  it('does not look beyond nextCounter + lookAhead', () => {
    expect(findHotpMatch(key, at(21), p, { nextCounter: 10n, lookAhead: 10 })).toBeNull();
    expect(findHotpMatch(key, at(11), p, { nextCounter: 10n, lookAhead: 0 })).toBeNull();
  });

  it('never accepts a spent counter (below nextCounter)', () => {
    for (const spent of [9n, 5n, 0n]) {
      expect(findHotpMatch(key, at(spent), p, { nextCounter: 10n, lookAhead: 10 })).toBeNull();
    }
  });

  it('RFC 4226 vectors 0..9 are found in order from counter 0', () => {
    let nextCounter = 0n;
    for (const code of ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489']) {
      const match = findHotpMatch(key, code, p, { nextCounter, lookAhead: 0 });
      expect(match).toEqual({ counter: nextCounter });
      nextCounter = (match?.counter ?? 0n) + 1n;
    }
  });

  it('crosses the 2^32 boundary of the counter halves', () => {
    const start = (1n << 32n) - 2n;
    expect(findHotpMatch(key, at((1n << 32n) + 1n), p, { nextCounter: start, lookAhead: 5 })).toEqual({ counter: (1n << 32n) + 1n });
  });

  it('stops at the last 64-bit counter instead of wrapping to 0', () => {
    const last = (1n << 64n) - 1n;
    expect(findHotpMatch(key, at(last), p, { nextCounter: last - 1n, lookAhead: 5 })).toEqual({ counter: last });
    expect(findHotpMatch(key, at(0), p, { nextCounter: last - 1n, lookAhead: 5 })).toBeNull();
  });

  it.each([['7552'], ['75522a'], ['7552244'], [''], [undefined]])('malformed %p is null', (code) => {
    expect(findHotpMatch(key, code as string, p, { nextCounter: 0n, lookAhead: 100 })).toBeNull();
  });

  it('works with an 80-bit seed of an old hardware token', () => {
    const shortKey = Buffer.from('3132333435363738393a', 'hex');
    expect(findHotpMatch(shortKey, hotp(shortKey, 42, 8, 'sha512'), { algorithm: 'sha512', digits: 8 }, { nextCounter: 40n, lookAhead: 5 })).toEqual({
      counter: 42n,
    });
  });
});
