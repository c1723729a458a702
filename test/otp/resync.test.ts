import { hotp, resyncHotp, resyncTotp, timeStep, type HashAlgorithm } from '../../src/otp';

const key = Buffer.from('00112233445566778899aabbccddeeff00112233', 'hex');

describe('resyncHotp', () => {
  const p = { algorithm: 'sha1' as HashAlgorithm, digits: 6 };
  const at = (c: bigint): string => hotp(key, c, 6);

  it('finds two consecutive codes far ahead and returns the counter of the second', () => {
    expect(resyncHotp(key, at(857n), at(858n), p, { nextCounter: 100n, window: 1000 })).toEqual({ counter: 858n });
  });

  it('accepts code1 exactly at nextCounter and exactly at nextCounter + window', () => {
    expect(resyncHotp(key, at(100n), at(101n), p, { nextCounter: 100n, window: 1000 })).toEqual({ counter: 101n });
    expect(resyncHotp(key, at(1100n), at(1101n), p, { nextCounter: 100n, window: 1000 })).toEqual({ counter: 1101n });
  });

  it('refuses code1 beyond the window', () => {
    expect(resyncHotp(key, at(1101n), at(1102n), p, { nextCounter: 100n, window: 1000 })).toBeNull();
  });

  it('never resyncs backwards: spent codes cannot rewind the counter (CVE-2019-12887)', () => {
    expect(resyncHotp(key, at(98n), at(99n), p, { nextCounter: 100n, window: 1000 })).toBeNull();
    expect(resyncHotp(key, at(99n), at(100n), p, { nextCounter: 100n, window: 1000 })).toBeNull();
  });

  it.each([
    ['same code twice', (c: bigint) => [at(c), at(c)]],
    ['reversed order', (c: bigint) => [at(c + 1n), at(c)]],
    ['a gap of one', (c: bigint) => [at(c), at(c + 2n)]],
  ])('refuses %s', (_, codes) => {
    const [first, second] = codes(500n);
    expect(resyncHotp(key, first, second, p, { nextCounter: 100n, window: 1000 })).toBeNull();
  });

  it.each([
    ['12345', '123456'],
    ['123456', 'abcdef'],
    ['', ''],
  ])('malformed codes %p, %p are null', (code1, code2) => {
    expect(resyncHotp(key, code1, code2, p, { nextCounter: 0n, window: 1000 })).toBeNull();
  });
});

describe('resyncTotp', () => {
  const p = { algorithm: 'sha256' as HashAlgorithm, digits: 6, period: 30 };
  const now = 1_700_000_000;
  const current = timeStep(now, 30);
  const at = (step: number): string => hotp(key, step, 6, 'sha256');
  const DAY = 2880;

  it.each([-DAY, -700, -1, 0, 1, 1234, DAY - 1])('finds a clock %i steps off within ±24 h', (offset) => {
    // code1 at current+offset, code2 one step later
    expect(resyncTotp(key, at(current + offset), at(current + offset + 1), p, { now, window: DAY })).toEqual({
      step: current + offset + 1,
      drift: offset + 1,
    });
  });

  it('refuses pairs outside the window', () => {
    expect(resyncTotp(key, at(current - DAY - 1), at(current - DAY), p, { now, window: DAY })).toBeNull();
    expect(resyncTotp(key, at(current + DAY + 1), at(current + DAY + 2), p, { now, window: DAY })).toBeNull();
  });

  it('never resyncs to or before the last accepted step (CVE-2019-12887)', () => {
    const lastAccepted = current - 10;
    expect(resyncTotp(key, at(lastAccepted - 1), at(lastAccepted), p, { now, window: DAY, afterStep: lastAccepted })).toBeNull();
    expect(resyncTotp(key, at(lastAccepted), at(lastAccepted + 1), p, { now, window: DAY, afterStep: lastAccepted })).toBeNull();
    expect(resyncTotp(key, at(lastAccepted - 500), at(lastAccepted - 499), p, { now, window: DAY, afterStep: lastAccepted })).toBeNull();
    expect(resyncTotp(key, at(lastAccepted + 1), at(lastAccepted + 2), p, { now, window: DAY, afterStep: lastAccepted })).toEqual({
      step: lastAccepted + 2,
      drift: -8,
    });
  });

  it('refuses non-consecutive codes', () => {
    expect(resyncTotp(key, at(current + 5), at(current + 7), p, { now, window: DAY })).toBeNull();
    expect(resyncTotp(key, at(current + 6), at(current + 5), p, { now, window: DAY })).toBeNull();
  });

  it('is linear: a full ±24 h miss takes well under a second', () => {
    const started = process.hrtime.bigint();
    expect(resyncTotp(key, '000000', '000000', p, { now, window: DAY })).toBeNull();
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(1000);
  });

  it('with one-digit codes (many candidate pairs) picks the pair closest to now', () => {
    const tiny = { ...p, digits: 1 };
    const code = (step: number): string => hotp(key, step, 1, 'sha256');
    const match = resyncTotp(key, code(current), code(current + 1), tiny, { now, window: 50 });
    expect(match).not.toBeNull();
    // A scan from the low end would stop ~50 steps back; the closest pair is at most one step away.
    const distance = Math.abs((match?.step ?? 0) - current);
    expect(distance).toBeLessThanOrEqual(1);
  });

  it.each([['1234567', at(current)], [at(current), 'x'], ['', '']])('malformed %p, %p are null', (code1, code2) => {
    expect(resyncTotp(key, code1, code2, p, { now, window: DAY })).toBeNull();
  });
});
