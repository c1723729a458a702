import { Md5 } from '../../src/hash';
import { ALGORITHMS, cutLists, feedSplit, hex, nodeHash, seededRandom } from './support';

// RFC 1321 appendix A.5, "Test suite": MD5 ("message") = digest.
const RFC1321_SUITE = [
  { message: '', digest: 'd41d8cd98f00b204e9800998ecf8427e' },
  { message: 'a', digest: '0cc175b9c0f1b6a831c399e269772661' },
  { message: 'abc', digest: '900150983cd24fb0d6963f7d28e17f72' },
  { message: 'message digest', digest: 'f96b697d7cb7938d525a2f31aaf161d0' },
  { message: 'abcdefghijklmnopqrstuvwxyz', digest: 'c3fcd3d76192e4007dfb496cca67e13b' },
  { message: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', digest: 'd174ab98d277d9f5a5611c2c9f419d9f' },
  {
    message: '12345678901234567890123456789012345678901234567890123456789012345678901234567890',
    digest: '57edf4a22be3c955ac49da2e2107b67a',
  },
];

/** The test drivers' inputs, the same in RFC 3174 and RFC 6234. */
const DRIVER_INPUTS = {
  TEST1: { message: 'abc', repeat: 1 },
  TEST2: { message: 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', repeat: 1 },
  TEST3: { message: 'a', repeat: 1_000_000 },
  TEST4: { message: '01234567', repeat: 80 },
};

// RFC 3174 §7.3's test driver for SHA-1, and RFC 6234 §8.4-8.5's for SHA-256 (the FIPS 180-2 examples among them;
// SHA-256's TEST2 is TEST2_1 there): `message` fed `repeat` times, one Input call each.
const DRIVER_TESTS = (
  [
    ['sha1', 'TEST1', 'a9993e364706816aba3e25717850c26c9cd0d89d'],
    ['sha1', 'TEST2', '84983e441c3bd26ebaae4aa1f95129e5e54670f1'],
    ['sha1', 'TEST3', '34aa973cd4c4daa4f61eeb2bdbad27316534016f'],
    ['sha1', 'TEST4', 'dea356a2cddd90c7a7ecedc5ebb563934f460452'],
    ['sha256', 'TEST1', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['sha256', 'TEST2', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
    ['sha256', 'TEST3', 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'],
    ['sha256', 'TEST4', '594847328451bdfa85056225462cc1d867d877fb388df0ce35f25ab5562bfbb5'],
  ] as const
).map(([algorithm, test, digest]) => ({ algorithm, test, digest, ...DRIVER_INPUTS[test], make: ALGORITHMS.find((a) => a.algorithm === algorithm)!.make }));

describe('RFC 1321 A.5 (MD5 test suite)', () => {
  it.each(RFC1321_SUITE)('MD5 ("$message")', ({ message, digest }) => {
    expect(hex(new Md5().update(Buffer.from(message, 'latin1')).digest())).toBe(digest);
    expect(nodeHash('md5', message)).toBe(digest);
  });
});

describe('RFC 3174 and RFC 6234 test drivers', () => {
  it.each(DRIVER_TESTS)('$algorithm $test: "$message" x $repeat', ({ algorithm, make, message, repeat, digest }) => {
    const bytes = Buffer.from(message, 'latin1');
    const h = make();
    for (let i = 0; i < repeat; i++) h.update(bytes);
    expect(hex(h.digest())).toBe(digest);
    expect(hex(make().update(Buffer.from(message.repeat(repeat), 'latin1')).digest())).toBe(digest);
    expect(nodeHash(algorithm, message.repeat(repeat))).toBe(digest);
  });
});

describe.each(ALGORITHMS)('$algorithm against node:crypto, every length 0..300', ({ algorithm, make }) => {
  const rng = seededRandom(algorithm === 'md5' ? 1321 : 3174);
  const messages = Array.from({ length: 301 }, (_, n) => rng.bytes(n));
  const expected = messages.map((m) => nodeHash(algorithm, m));

  it('in one update', () => {
    expect(messages.map((m) => hex(make().update(m).digest()))).toEqual(expected);
  });

  it('split into 2 and 3 updates at 0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 200 and the end', () => {
    const wrong: unknown[] = [];
    for (const [n, message] of messages.entries()) {
      for (const cuts of cutLists(n)) {
        const got = hex(feedSplit(make(), message, cuts).digest());
        if (got !== expected[n]) wrong.push({ length: n, cuts, got, expected: expected[n] });
      }
    }
    expect(wrong).toEqual([]);
  });

  it('as a (data, start, end) range of a larger buffer, whole and split', () => {
    const wrong: unknown[] = [];
    for (const [n, message] of messages.entries()) {
      for (const before of [0, 1, 13, 64, 100]) {
        const big = Buffer.concat([rng.bytes(before), message, rng.bytes(17)]);
        const whole = hex(make().update(big, before, before + n).digest());
        if (whole !== expected[n]) wrong.push({ length: n, before, got: whole });
        for (const cut of [0, 55, 56, 64, 65].filter((c) => c <= n)) {
          const h = make().update(big, before, before + cut).update(big, before + cut, before + n);
          const split = hex(h.digest());
          if (split !== expected[n]) wrong.push({ length: n, before, cut, got: split });
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

/*
 * RFC 1321 §3.1-3.2 / RFC 3174 §4 / FIPS 180-4 §5.1.1: a 0x80 byte, zeros, then the 64-bit length in the last 8 bytes of
 * a block. A last partial block of 56 bytes or more leaves no room for them, and the padding spills
 * into one more block. Lengths either side of that edge, in the first and second block:
 */
const PADDING_EDGES = [
  { length: 55, spills: false, why: 'largest message that pads within one block' },
  { length: 56, spills: true, why: 'smallest message whose padding spills' },
  { length: 57, spills: true, why: 'spills' },
  { length: 63, spills: true, why: 'one byte short of a block: 0x80 ends it' },
  { length: 64, spills: false, why: 'one full block, padding in a block of its own' },
  { length: 119, spills: false, why: 'second block holds 55 bytes plus padding' },
  { length: 120, spills: true, why: 'second block spills into a third' },
];

describe.each(ALGORITHMS)('$algorithm padding', ({ algorithm, make }) => {
  const rng = seededRandom(algorithm === 'md5' ? 55 : 56);

  it.each(PADDING_EDGES)('length $length: $why', ({ length, spills }) => {
    const message = rng.bytes(length);
    const h = make();
    const compress = jest.spyOn(Object.getPrototypeOf(h) as { compress(): void }, 'compress');
    try {
      expect(hex(h.update(message).digest())).toBe(nodeHash(algorithm, message));
      expect(compress).toHaveBeenCalledTimes(Math.floor(length / 64) + 1 + (spills ? 1 : 0));
    } finally {
      compress.mockRestore();
    }
  });
});
