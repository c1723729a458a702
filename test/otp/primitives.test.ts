import { typedCode, codesEqual, hotp, randomSecret, secretLengthFor, timeStep, totp, type HashAlgorithm } from '../../src/otp';

describe('codesEqual', () => {
  it.each([
    ['123456', '123456', true],
    ['', '', true],
    ['123456', '123457', false],
    ['023456', '123456', false],
    ['12345', '123456', false],
    ['123456', '12345', false],
    ['é', 'e\u0301', false], // same rendering, different code units
    ['éa', 'ab', false], // same UTF-16 length, different UTF-8 length: must not throw
    [null, '123456', false],
  ])('%p vs %p -> %p', (a, b, expected) => {
    expect(codesEqual(a as string, b)).toBe(expected);
  });
});

describe('hotp argument checks', () => {
  const key = Buffer.from('secret');

  it('zero-pads to the requested length', () => {
    // Find a counter whose 6-digit code starts with 0 to prove padding happens.
    let counter = 0;
    while (!hotp(key, counter, 6).startsWith('0')) counter++;
    const code = hotp(key, counter, 6);
    expect(code).toMatch(/^0\d{5}$/);
    expect(hotp(key, counter, 10).endsWith(code)).toBe(true); // the 10-digit code is the whole 31-bit value
  });

  it('gives the same code for number and bigint counters, including above 2^32', () => {
    for (const c of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
      expect(hotp(key, c, 8)).toBe(hotp(key, BigInt(c), 8));
    }
  });

  it('accepts empty and very long keys (HMAC hashes keys longer than a block)', () => {
    expect(hotp(Buffer.alloc(0), 0, 6)).toMatch(/^\d{6}$/);
    expect(hotp(Buffer.alloc(200, 1), 0, 6, 'sha512')).toMatch(/^\d{6}$/);
  });

  it.each([
    ['a negative counter', () => hotp(key, -1, 6)],
    ['a fractional counter', () => hotp(key, 1.5, 6)],
    ['an unsafe integer counter', () => hotp(key, 2 ** 60, 6)],
    ['a counter of 2^64', () => hotp(key, 1n << 64n, 6)],
    ['0 digits', () => hotp(key, 0, 0)],
    ['11 digits', () => hotp(key, 0, 11)],
    ['an unknown algorithm', () => hotp(key, 0, 6, 'md5' as HashAlgorithm)],
    ['a zero period', () => totp(key, 0, { digits: 6, period: 0, algorithm: 'sha1' })],
    ['a NaN time', () => timeStep(Number.NaN, 30)],
  ])('throws RangeError for %s (a caller bug)', (_, call) => {
    expect(call).toThrow(RangeError);
  });
});

describe('timeStep (RFC 6238 §4.2, floor)', () => {
  it.each([
    [0, 30, 0, 0],
    [29.999, 30, 0, 0],
    [30, 30, 0, 1],
    [59, 30, 0, 1],
    [60, 60, 0, 1],
    [119, 60, 0, 1],
    [1_700_000_000, 30, 0, 56_666_666],
    [1_000, 30, 1_000, 0],
    [1_029, 30, 1_000, 0],
    [1_030, 30, 1_000, 1],
  ])('time %p, period %p, t0 %p -> %p', (time, period, t0, expected) => {
    expect(timeStep(time, period, t0)).toBe(expected);
  });
});

describe('secrets', () => {
  it.each([
    ['sha1', 20],
    ['sha256', 32],
    ['sha512', 64],
  ] as const)('%s uses %i-byte secrets', (algorithm, length) => {
    expect(secretLengthFor(algorithm)).toBe(length);
    const a = randomSecret(algorithm);
    const b = randomSecret(algorithm);
    expect(a).toHaveLength(length);
    expect(a.equals(b)).toBe(false);
  });
});

describe('typedCode: whitespace a user types around or inside a code is not part of it', () => {
  // [typed, what is checked]
  const cases: [string, string][] = [
    ['123456', '123456'],
    ['123 456', '123456'],
    [' 123456 ', '123456'],
    ['1234\t5678\n', '12345678'],
    ['123\u00a0456', '123456'], // a no-break space, as some apps copy it
    ['12a456', '12a456'], // anything else stays, and is a mismatch as before
    ['', ''],
    ['   ', ''],
  ];
  test.each(cases)('%j -> %j', (typed, checked) => {
    expect(typedCode(typed)).toBe(checked);
  });
});
