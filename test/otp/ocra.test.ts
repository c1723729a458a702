import { createHash } from 'node:crypto';
import {
  findOcraMatch,
  ocra,
  ocraChallenge,
  ocraPinHash,
  ocraTimestamp,
  OcraInputError,
  OcraSuiteError,
  parseOcraSuite,
  type OcraSuite,
} from '../../src/otp';
import { loadVectors, type OcraVector } from './support';

const { keys, pin, vectors } = loadVectors().ocra_rfc6287;
const keyOf = (v: OcraVector): Buffer => Buffer.from(keys[v.key].hex, 'hex');

function inputOf(v: OcraVector, suite: OcraSuite) {
  return {
    question: v.question,
    counter: v.counter === undefined ? undefined : BigInt(v.counter),
    pinHash: v.pin === undefined ? undefined : ocraPinHash(suite, v.pin),
    timestamp: v.timestamp_hex === undefined ? undefined : BigInt(`0x${v.timestamp_hex}`),
  };
}

describe('RFC 6287 Appendix C vectors', () => {
  it('has all seventy vectors', () => {
    expect(vectors).toHaveLength(70);
  });

  it.each(vectors.map((v, i) => ({ ...v, i })))('#$i $section $kind $ocra_suite q=$question', (v) => {
    const suite = parseOcraSuite(v.ocra_suite);
    expect(ocra(suite, keyOf(v), inputOf(v, suite))).toBe(v.expected);
  });

  it.each(vectors.filter((v) => v.pin !== undefined))('PIN hash of "$pin" is the published SHA-1', (v) => {
    expect(ocraPinHash(parseOcraSuite(v.ocra_suite), v.pin as string).toString('hex')).toBe(v.pin_sha1_hex);
  });

  it.each(vectors.filter((v) => v.timestamp_unix_seconds !== undefined))(
    'T1M timestamp of $timestamp_unix_seconds s is 0x$timestamp_hex',
    (v) => {
      expect(ocraTimestamp(parseOcraSuite(v.ocra_suite), v.timestamp_unix_seconds as number)).toBe(BigInt(`0x${v.timestamp_hex}`));
    },
  );

  it.each(vectors.map((v, i) => ({ ...v, i })))('#$i findOcraMatch accepts the expected response', (v) => {
    const suite = parseOcraSuite(v.ocra_suite);
    const input = inputOf(v, suite);
    const match = findOcraMatch(suite, keyOf(v), v.expected, {
      question: v.question,
      counter: input.counter,
      pinHash: input.pinHash,
      now: v.timestamp_unix_seconds,
    });
    expect(match).toEqual({
      ...(input.counter === undefined ? {} : { counter: input.counter }),
      ...(input.timestamp === undefined ? {} : { timestep: input.timestamp }),
    });
  });
});

describe('parseOcraSuite', () => {
  it.each([
    ['OCRA-1:HOTP-SHA1-6:QN08', { algorithm: 'sha1', digits: 6, counter: false, question: { format: 'N', maxLength: 8 } }],
    ['OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1', { algorithm: 'sha256', digits: 8, counter: true, pin: 'sha1' }],
    ['OCRA-1:HOTP-SHA512-8:QN08-T1M', { algorithm: 'sha512', counter: false, timeStepSeconds: 60 }],
    ['OCRA-1:HOTP-SHA512-8:QA10-T1M', { question: { format: 'A', maxLength: 10 } }],
    ['OCRA-1:HOTP-SHA1-0:QH40', { digits: 0, question: { format: 'H', maxLength: 40 } }],
    ['OCRA-1:HOTP-SHA1-4:QN04', { digits: 4 }],
    ['OCRA-1:HOTP-SHA1-10:QN64', { digits: 10, question: { format: 'N', maxLength: 64 } }],
    ['OCRA-1:HOTP-SHA256-6:C-QA64-PSHA512-S128-T30S', { counter: true, pin: 'sha512', sessionLength: 128, timeStepSeconds: 30 }],
    ['OCRA-1:HOTP-SHA1-6:QN08-S064', { sessionLength: 64 }],
    ['OCRA-1:HOTP-SHA1-6:QN08-T48H', { timeStepSeconds: 48 * 3600 }],
    ['OCRA-1:HOTP-SHA1-6:QN08-T59M', { timeStepSeconds: 59 * 60 }],
  ])('%s', (text, expected) => {
    const suite = parseOcraSuite(text);
    expect(suite).toMatchObject({ text, ...expected });
  });

  it('leaves absent optional fields undefined', () => {
    const suite = parseOcraSuite('OCRA-1:HOTP-SHA1-6:QN08');
    expect([suite.pin, suite.sessionLength, suite.timeStepSeconds]).toEqual([undefined, undefined, undefined]);
  });

  it.each([
    ['', /Algorithm/],
    ['OCRA-1:HOTP-SHA1-6', /Algorithm/],
    ['OCRA-2:HOTP-SHA1-6:QN08', /OCRA-1/],
    ['ocra-1:hotp-sha1-6:qn08', /OCRA-1/],
    ['OCRA-1:HOTP-MD5-6:QN08', /crypto function/],
    ['OCRA-1:TOTP-SHA1-6:QN08', /crypto function/],
    ['OCRA-1:HOTP-SHA1-3:QN08', /0 or 4\.\.10/],
    ['OCRA-1:HOTP-SHA1-11:QN08', /0 or 4\.\.10/],
    ['OCRA-1:HOTP-SHA1-6:C', /challenge field/],
    ['OCRA-1:HOTP-SHA1-6:QX08', /challenge field/],
    ['OCRA-1:HOTP-SHA1-6:QN8', /challenge field/],
    ['OCRA-1:HOTP-SHA1-6:QN03', /04\.\.64/],
    ['OCRA-1:HOTP-SHA1-6:QN65', /04\.\.64/],
    ['OCRA-1:HOTP-SHA1-6:QN08-C', /unexpected data input field "C"/],
    ['OCRA-1:HOTP-SHA1-6:QN08-T1M-PSHA1', /unexpected data input field "PSHA1"/],
    ['OCRA-1:HOTP-SHA1-6:QN08-PMD5', /unexpected data input field "PMD5"/],
    ['OCRA-1:HOTP-SHA1-6:QN08-S000', /at least 1 byte/],
    ['OCRA-1:HOTP-SHA1-6:QN08-T0M', /out of range/],
    ['OCRA-1:HOTP-SHA1-6:QN08-T60S', /out of range/],
    ['OCRA-1:HOTP-SHA1-6:QN08-T49H', /out of range/],
    ['OCRA-1:HOTP-SHA1-6:QN08-T1M-T1M', /unexpected data input field/],
    ['OCRA-1:HOTP-SHA1-6:QN08:extra', /Algorithm/],
  ])('rejects %j', (text, message) => {
    expect(() => parseOcraSuite(text)).toThrow(OcraSuiteError);
    expect(() => parseOcraSuite(text)).toThrow(message);
  });
});

describe('ocra input handling', () => {
  const key = Buffer.from(keys.K20.hex, 'hex');

  it('t = 0 returns the full HMAC as hex and findOcraMatch compares it whole', () => {
    const suite = parseOcraSuite('OCRA-1:HOTP-SHA256-0:QH16');
    const full = ocra(suite, key, { question: 'ABCDEF0123456789' });
    expect(full).toMatch(/^[0-9a-f]{64}$/);
    expect(findOcraMatch(suite, key, full.toUpperCase(), { question: 'abcdef0123456789' })).toEqual({});
    const flipped = (full[0] === '0' ? '1' : '0') + full.slice(1);
    expect(findOcraMatch(suite, key, flipped, { question: 'ABCDEF0123456789' })).toBeNull();
    expect(findOcraMatch(suite, key, full.slice(1), { question: 'ABCDEF0123456789' })).toBeNull();
  });

  it('numeric challenges with leading zeros are the same number', () => {
    const suite = parseOcraSuite('OCRA-1:HOTP-SHA1-6:QN08');
    expect(ocra(suite, key, { question: '00012345' })).toBe(ocra(suite, key, { question: '12345' }));
  });

  it('session information is right-aligned in its nnn bytes', () => {
    const suite = parseOcraSuite('OCRA-1:HOTP-SHA1-6:QN08-S004');
    const short = ocra(suite, key, { question: '1234', session: Buffer.from([0xab]) });
    expect(short).toBe(ocra(suite, key, { question: '1234', session: Buffer.from([0, 0, 0, 0xab]) }));
    expect(short).not.toBe(ocra(suite, key, { question: '1234', session: Buffer.from([0xab, 0, 0, 0]) }));
  });

  it.each([
    ['OCRA-1:HOTP-SHA1-6:QN08', { question: '12a4' }, /only digits/],
    ['OCRA-1:HOTP-SHA1-6:QN08', { question: '' }, /non-empty/],
    ['OCRA-1:HOTP-SHA1-6:QH08', { question: 'XYZ1' }, /hex digits/],
    ['OCRA-1:HOTP-SHA1-6:QA08', { question: 'naïve' }, /printable ASCII/],
    ['OCRA-1:HOTP-SHA1-6:QA08', { question: 'A'.repeat(129) }, /128 bytes/],
    ['OCRA-1:HOTP-SHA1-6:QH08', { question: 'F'.repeat(257) }, /128 bytes/],
    ['OCRA-1:HOTP-SHA1-6:QN08', { question: '9'.repeat(400) }, /128 bytes/],
    ['OCRA-1:HOTP-SHA1-6:C-QN08', { question: '1234' }, /needs a counter/],
    ['OCRA-1:HOTP-SHA1-6:C-QN08', { question: '1234', counter: -1n }, /counter must be/],
    ['OCRA-1:HOTP-SHA1-6:C-QN08', { question: '1234', counter: 1n << 64n }, /counter must be/],
    ['OCRA-1:HOTP-SHA1-6:QN08-T1M', { question: '1234' }, /needs a timestamp/],
    ['OCRA-1:HOTP-SHA1-6:QN08-PSHA1', { question: '1234' }, /needs a PIN hash/],
    ['OCRA-1:HOTP-SHA1-6:QN08-PSHA256', { question: '1234', pinHash: Buffer.alloc(20) }, /32 bytes/],
    ['OCRA-1:HOTP-SHA1-6:QN08-S004', { question: '1234' }, /session/],
    ['OCRA-1:HOTP-SHA1-6:QN08-S004', { question: '1234', session: Buffer.alloc(5) }, /at most 4 bytes/],
  ])('%s with %p throws OcraInputError %p', (text, input, message) => {
    const suite = parseOcraSuite(text);
    expect(() => ocra(suite, key, input)).toThrow(OcraInputError);
    expect(() => ocra(suite, key, input)).toThrow(message);
  });

  it('the question may exceed QFxx (mutual mode concatenates two challenges)', () => {
    const suite = parseOcraSuite('OCRA-1:HOTP-SHA1-6:QA08');
    expect(ocra(suite, key, { question: 'CLI22220SRV11110' })).toMatch(/^\d{6}$/);
  });
});

describe('findOcraMatch windows', () => {
  const key = Buffer.from(keys.K32.hex, 'hex');
  const counterSuite = parseOcraSuite('OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1');
  const pinHash = Buffer.from(pin.sha1_hex, 'hex');
  const timeSuite = parseOcraSuite('OCRA-1:HOTP-SHA256-6:QN08-T30S');

  it('looks ahead from the next unused counter, never behind it', () => {
    const at = (c: bigint): string => ocra(counterSuite, key, { question: '12345678', counter: c, pinHash });
    expect(findOcraMatch(counterSuite, key, at(13n), { question: '12345678', counter: 10n, lookAhead: 5, pinHash })).toEqual({ counter: 13n });
    expect(findOcraMatch(counterSuite, key, at(16n), { question: '12345678', counter: 10n, lookAhead: 5, pinHash })).toBeNull();
    expect(findOcraMatch(counterSuite, key, at(9n), { question: '12345678', counter: 10n, lookAhead: 5, pinHash })).toBeNull();
    expect(findOcraMatch(counterSuite, key, at(10n), { question: '12345678', counter: 10n, pinHash })).toEqual({ counter: 10n });
  });

  it('the question and PIN are bound into the response', () => {
    const response = ocra(counterSuite, key, { question: '12345678', counter: 0n, pinHash });
    expect(findOcraMatch(counterSuite, key, response, { question: '12345679', counter: 0n, pinHash })).toBeNull();
    const otherPin = createHash('sha1').update('4321').digest();
    expect(findOcraMatch(counterSuite, key, response, { question: '12345678', counter: 0n, pinHash: otherPin })).toBeNull();
  });

  it('searches time steps around now and refuses steps at or before afterTimestep', () => {
    const now = 1_700_000_000;
    const current = ocraTimestamp(timeSuite, now);
    const at = (step: bigint): string => ocra(timeSuite, key, { question: '5555', timestamp: step });
    expect(findOcraMatch(timeSuite, key, at(current), { question: '5555', now })).toEqual({ timestep: current });
    expect(findOcraMatch(timeSuite, key, at(current - 1n), { question: '5555', now })).toBeNull();
    expect(findOcraMatch(timeSuite, key, at(current - 1n), { question: '5555', now, timeWindow: 1 })).toEqual({ timestep: current - 1n });
    expect(findOcraMatch(timeSuite, key, at(current + 2n), { question: '5555', now, timeWindow: 2 })).toEqual({ timestep: current + 2n });
    expect(findOcraMatch(timeSuite, key, at(current), { question: '5555', now, afterTimestep: current })).toBeNull();
    expect(findOcraMatch(timeSuite, key, at(current + 1n), { question: '5555', now, timeWindow: 1, afterTimestep: current })).toEqual({
      timestep: current + 1n,
    });
  });

  it('a missing counter or clock for the suite is a caller bug', () => {
    expect(() => findOcraMatch(counterSuite, key, '12345678', { question: '1234', pinHash })).toThrow(OcraInputError);
    expect(() => findOcraMatch(timeSuite, key, '123456', { question: '1234' })).toThrow(/current time/);
  });

  it.each([
    ['', '5555'],
    ['12345', '5555'],
    ['1234567', '5555'],
    ['12a456', '5555'],
    [' 23456', '5555'],
    ['123456', ''],
    ['123456', 'not-a-number'],
    ['123456', '9'.repeat(400)],
    [undefined as unknown as string, '5555'],
  ])('response %p / question %p is a plain mismatch', (response, question) => {
    expect(findOcraMatch(timeSuite, key, response, { question, now: 1_700_000_000, timeWindow: 2 })).toBeNull();
  });
});

describe('ocraChallenge', () => {
  it.each([
    ['OCRA-1:HOTP-SHA1-6:QN08', /^[0-9]{8}$/],
    ['OCRA-1:HOTP-SHA1-6:QA10', /^[0-9A-Z]{10}$/],
    ['OCRA-1:HOTP-SHA1-6:QH64', /^[0-9A-F]{64}$/],
  ])('%s gives a fresh challenge matching %p that ocra accepts', (text, shape) => {
    const suite = parseOcraSuite(text);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const challenge = ocraChallenge(suite);
      expect(challenge).toMatch(shape);
      expect(ocra(suite, Buffer.alloc(20, 1), { question: challenge })).toMatch(/^\d{6}$/);
      seen.add(challenge);
    }
    expect(seen.size).toBe(20);
  });

  it('skips biased bytes instead of folding them (rejection sampling)', () => {
    const suite = parseOcraSuite('OCRA-1:HOTP-SHA1-6:QN04');
    // 250..255 are above the largest multiple of 10 and must be dropped; 7, 13, 29, 100 give 7, 3, 9, 0.
    const bytes = [255, 250, 7, 13, 254, 29, 100];
    let calls = 0;
    const random = (n: number): Buffer => {
      calls++;
      return Buffer.from(bytes.splice(0, n));
    };
    expect(ocraChallenge(suite, random)).toBe('7390');
    expect(calls).toBe(1);
  });

  it('keeps drawing until it has enough symbols', () => {
    const suite = parseOcraSuite('OCRA-1:HOTP-SHA1-6:QN04');
    const draws = [Buffer.alloc(8, 255), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])];
    expect(ocraChallenge(suite, () => draws.shift() as Buffer)).toBe('1234');
  });
});
