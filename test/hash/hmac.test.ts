import { Hmac, Md5, Sha1 } from '../../src/hash';
import { ALGORITHMS, cutLists, feedSplit, hex, nodeHmac, seededRandom } from './support';

const fill = (byte: number, length: number): Buffer => Buffer.alloc(length, byte);
const text = (s: string): Buffer => Buffer.from(s, 'latin1');
const KEY_0102 = Buffer.from('0102030405060708090a0b0c0d0e0f10111213141516171819', 'hex');
const LARGER_KEY_DATA = 'Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data';
const LARGER_KEY = 'Test Using Larger Than Block-Size Key - Hash Key First';

// RFC 2202 §2, "Test Cases for HMAC-MD5" (cases 6-7: an 80-byte key, hashed first per RFC 2104 §2).
const HMAC_MD5 = [
  { test_case: 1, key: fill(0x0b, 16), data: text('Hi There'), digest: '9294727a3638bb1c13f48ef8158bfc9d' },
  { test_case: 2, key: text('Jefe'), data: text('what do ya want for nothing?'), digest: '750c783e6ab0b503eaa86e310a5db738' },
  { test_case: 3, key: fill(0xaa, 16), data: fill(0xdd, 50), digest: '56be34521d144c88dbb8c733f0e8b3f6' },
  { test_case: 4, key: KEY_0102, data: fill(0xcd, 50), digest: '697eaf0aca3a3aea3a75164746ffaa79' },
  { test_case: 5, key: fill(0x0c, 16), data: text('Test With Truncation'), digest: '56461ef2342edc00f9bab995690efd4c' },
  { test_case: 6, key: fill(0xaa, 80), data: text(LARGER_KEY), digest: '6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd' },
  { test_case: 7, key: fill(0xaa, 80), data: text(LARGER_KEY_DATA), digest: '6f630fad67cda0ee1fb1f562db3aa53e' },
];

// RFC 2202 §3, "Test Cases for HMAC-SHA-1".
const HMAC_SHA1 = [
  { test_case: 1, key: fill(0x0b, 20), data: text('Hi There'), digest: 'b617318655057264e28bc0b6fb378c8ef146be00' },
  { test_case: 2, key: text('Jefe'), data: text('what do ya want for nothing?'), digest: 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79' },
  { test_case: 3, key: fill(0xaa, 20), data: fill(0xdd, 50), digest: '125d7342b9ac11cd91a39af48aa17b4f63f175d3' },
  { test_case: 4, key: KEY_0102, data: fill(0xcd, 50), digest: '4c9007f4026250c6bc8414f9bf50c86c2d7235da' },
  { test_case: 5, key: fill(0x0c, 20), data: text('Test With Truncation'), digest: '4c1a03424b55e07fe7f27be1d58bb9324a9a5a04' },
  { test_case: 6, key: fill(0xaa, 80), data: text(LARGER_KEY), digest: 'aa4ae5e15272d00e95705637ce8a3b55ed402112' },
  { test_case: 7, key: fill(0xaa, 80), data: text(LARGER_KEY_DATA), digest: 'e8e99d0f45237d786d6bbaa7965c7808bbff1a91' },
];

describe.each([
  { rfc: 'RFC 2202 §2 HMAC-MD5', algorithm: 'md5', make: () => new Md5(), cases: HMAC_MD5 },
  { rfc: 'RFC 2202 §3 HMAC-SHA-1', algorithm: 'sha1', make: () => new Sha1(), cases: HMAC_SHA1 },
])('$rfc', ({ algorithm, make, cases }) => {
  it.each(cases)('test_case $test_case', ({ key, data, digest }) => {
    const cached = new Hmac(make(), { cacheKeys: true });
    // uncached, then cached twice: the second start() takes the precomputed states
    const macs = [new Hmac(make()), cached, cached].map((hmac) => hex(hmac.start(key).update(data).digest()));
    expect(macs).toEqual([digest, digest, digest]);
    expect(nodeHmac(algorithm, key, data)).toBe(digest);
  });
});

// A key changed in place after start(): how it changes and how long it is (> 64 takes the hash-the-key path).
const MUTATIONS = [
  { keyLength: 20, change: 'first byte flipped', mutate: (k: Uint8Array) => { k[0] ^= 0xff; } },
  { keyLength: 20, change: 'last bit flipped', mutate: (k: Uint8Array) => { k[19] ^= 1; } },
  { keyLength: 20, change: 'every byte rewritten', mutate: (k: Uint8Array) => { k.fill(7); } },
  { keyLength: 64, change: 'byte 63 flipped', mutate: (k: Uint8Array) => { k[63] ^= 0x80; } },
  { keyLength: 80, change: 'byte 70 flipped', mutate: (k: Uint8Array) => { k[70] ^= 0x01; } },
  { keyLength: 65, change: 'first byte flipped', mutate: (k: Uint8Array) => { k[0] ^= 0x01; } },
];

// Both ways an Hmac runs: preparing the key on every start(), or keeping it per key buffer.
const MODES = [
  { mode: 'uncached', opts: {} },
  { mode: 'cacheKeys', opts: { cacheKeys: true } },
];

const ALGORITHM_MODES = ALGORITHMS.flatMap((a) => MODES.map((m) => ({ ...a, ...m })));

describe.each(ALGORITHM_MODES)('Hmac over $algorithm ($mode) against node:crypto', ({ algorithm, make, mode, opts }) => {
  const rng = seededRandom((algorithm === 'md5' ? 2104 : 2202) + (mode === 'uncached' ? 0 : 1));
  const newHmac = (): Hmac => new Hmac(make(), opts);

  it('every key length 0..200 (one instance, so also every key after another)', () => {
    const hmac = newHmac();
    const wrong: unknown[] = [];
    for (let length = 0; length <= 200; length++) {
      const key = rng.bytes(length);
      const message = rng.bytes(rng.int(150));
      const got = hex(hmac.start(key).update(message).digest());
      if (got !== nodeHmac(algorithm, key, message)) wrong.push({ keyLength: length, messageLength: message.length, got });
    }
    expect(wrong).toEqual([]);
  });

  it.each([0, 20, 64, 65, 100])('%i-byte key, every message length 0..300 split at the block edges', (keyLength) => {
    const hmac = newHmac();
    const key = rng.bytes(keyLength);
    const wrong: unknown[] = [];
    for (let n = 0; n <= 300; n += n < 130 ? 1 : 7) {
      const message = rng.bytes(n);
      const expected = nodeHmac(algorithm, key, message);
      for (const cuts of cutLists(n)) {
        const got = hex(feedSplit(hmac.start(key), message, cuts).digest());
        if (got !== expected) wrong.push({ length: n, cuts, got });
      }
    }
    expect(wrong).toEqual([]);
  });

  it('alternates among five keys (0 to 200 bytes) for 200 messages', () => {
    const hmac = newHmac();
    const keys = [0, 16, 64, 65, 200].map((n) => rng.bytes(n));
    const messages = Array.from({ length: 200 }, () => ({ key: rng.pick(keys), message: rng.bytes(rng.int(100)) }));
    const got = messages.map(({ key, message }) => hex(hmac.start(key).update(message).digest()));
    expect(got).toEqual(messages.map(({ key, message }) => nodeHmac(algorithm, key, message)));
  });

  it.each([0, 3, 16])('digestInto at offset %i writes only the MAC bytes', (offset) => {
    const hmac = newHmac();
    const key = rng.bytes(32);
    const message = rng.bytes(77);
    const out = rng.bytes(offset + hmac.digestLength + 5);
    const before = Buffer.from(out);
    hmac.start(key).update(message, 0, 77).digestInto(out, offset);
    expect(hex(out.subarray(offset, offset + hmac.digestLength))).toBe(nodeHmac(algorithm, key, message));
    expect(out.subarray(0, offset)).toEqual(before.subarray(0, offset));
    expect(out.subarray(offset + hmac.digestLength)).toEqual(before.subarray(offset + hmac.digestLength));
  });

  it.each(MUTATIONS)('a $keyLength-byte key buffer with $change after start(): the MAC uses its new bytes', ({ keyLength, mutate }) => {
    const hmac = newHmac();
    const key = rng.bytes(keyLength);
    const message = rng.bytes(40);
    expect(hex(hmac.start(key).update(message).digest())).toBe(nodeHmac(algorithm, key, message));
    mutate(key);
    expect(hex(hmac.start(key).update(message).digest())).toBe(nodeHmac(algorithm, key, message));
    // and the mutated bytes stay in use on the next start with the same buffer
    expect(hex(hmac.start(key).update(message).digest())).toBe(nodeHmac(algorithm, key, message));
  });

  it('a key view that grows in place (resizable ArrayBuffer, ES2024) gives the MAC of its new bytes', () => {
    type Resizable = ArrayBuffer & { resize(length: number): void };
    const buffer = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(20, { maxByteLength: 64 });
    const key = new Uint8Array(buffer); // length-tracking: grows with the buffer
    key.set(rng.bytes(20));
    const message = rng.bytes(40);
    const hmac = newHmac();
    expect(hex(hmac.start(key).update(message).digest())).toBe(nodeHmac(algorithm, key, message));
    buffer.resize(30);
    key.set(rng.bytes(10), 20);
    expect(hex(hmac.start(key).update(message).digest())).toBe(nodeHmac(algorithm, key, message));
  });

  it.each([0, 20, 64, 80])('%i-byte keys in different buffers with the same bytes give the same MAC', (keyLength) => {
    const hmac = newHmac();
    const key = rng.bytes(keyLength);
    const copies = [key, Buffer.from(key), new Uint8Array(key), key.subarray(0)];
    const message = rng.bytes(50);
    const macs = [...copies, key].map((k) => hex(hmac.start(k).update(message).digest()));
    expect(macs).toEqual(macs.map(() => nodeHmac(algorithm, key, message)));
  });

  it.each([
    { call: 'digest()', run: (h: Hmac) => h.digest() },
    { call: 'digestInto(out)', run: (h: Hmac) => h.digestInto(new Uint8Array(64)) },
    { call: 'update then digest()', run: (h: Hmac) => h.update(rng.bytes(10)).digest() },
  ])('$call before start() throws', ({ run }) => {
    expect(() => run(newHmac())).toThrow('before start');
  });

  it('update with a range outside the data throws RangeError', () => {
    const hmac = newHmac().start(rng.bytes(20));
    expect(() => hmac.update(rng.bytes(10), 4, 11)).toThrow(RangeError);
  });
});

// Whether start() prepares the key again: observed through the wrapped hash's reset(), which only
// preparing a key calls (a cache hit just loads the saved states).
const CACHE_ROWS = [
  { mode: 'uncached', opts: {}, again: 'unchanged', prepares: true },
  { mode: 'uncached', opts: {}, again: 'mutated', prepares: true },
  { mode: 'cacheKeys', opts: { cacheKeys: true }, again: 'unchanged', prepares: false },
  { mode: 'cacheKeys', opts: { cacheKeys: true }, again: 'unchanged, after another key', prepares: false },
  { mode: 'cacheKeys', opts: { cacheKeys: true }, again: 'mutated', prepares: true },
];

describe.each(ALGORITHMS)('Hmac over $algorithm: the key cache', ({ algorithm, make }) => {
  const rng = seededRandom(algorithm === 'md5' ? 4 : 5);

  it.each(CACHE_ROWS)('$mode, start() again with the key $again: prepares it again $prepares', ({ opts, again, prepares }) => {
    const hash = make();
    const hmac = new Hmac(hash, opts);
    const key = rng.bytes(20);
    const message = rng.bytes(30);
    hmac.start(key);
    if (again.includes('another key')) hmac.start(rng.bytes(20));
    if (again === 'mutated') key[5] ^= 0x10;
    const reset = jest.spyOn(hash, 'reset');
    hmac.start(key);
    expect(reset.mock.calls.length > 0).toBe(prepares);
    expect(hex(hmac.update(message).digest())).toBe(nodeHmac(algorithm, key, message));
  });
});
