import { ScureBase32Plugin } from 'otplib';
import { base32Decode, base32Encode } from '../../src/otp';
import { seededRandom } from './support';

describe('base32 (RFC 4648)', () => {
  // RFC 4648 §10 test vectors, padding stripped for our output.
  it.each([
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ])('%p <-> %p', (plain, encoded) => {
    expect(base32Encode(Buffer.from(plain))).toBe(encoded);
    expect(base32Decode(encoded)?.toString()).toBe(plain);
  });

  it.each([
    ['MY======', 'f'],
    ['MZXQ====', 'fo'],
    ['MZXW6===', 'foo'],
    ['MZXW6YQ=', 'foob'],
    ['mzxw6ytboi', 'foobar'],
    ['MzXw 6yTb oI', 'foobar'],
    ['MZXW-6YTB-OI', 'foobar'],
    ['  mzxw6ytb\toi\n', 'foobar'],
    ['MZXW6YTBOI======', 'foobar'],
    ['jbsw y3dp ehpk 3pxp', 'Hello!\u00de\u00ad\u00be\u00ef'],
  ])('normalises %p', (text, plain) => {
    expect(base32Decode(text)?.toString('latin1')).toBe(plain);
  });

  it.each([
    ['MZXW1'], // '1' is not in the alphabet
    ['MZXW8'],
    ['MZXW0'],
    ['MZXW6!'],
    ['MZXWé'],
    ['M'], // 5 bits cannot make a byte
    ['MZX'], // length 3 mod 8 is impossible
    ['MZXW6Y'], // length 6 mod 8 is impossible
    ['MY=='], // not enough padding
    ['MY======='], // too much padding
    ['MY=============='], // a whole extra quantum of padding
    ['MY======MY======'], // padding in the middle
    ['M=Y'],
    ['MZXW6YTB========'], // a full quantum takes no padding
    ['='],
    [null],
    [42],
  ])('rejects %p with null', (text) => {
    expect(base32Decode(text as string)).toBeNull();
  });

  it('round-trips random buffers and matches otplib/scure', () => {
    const scure = new ScureBase32Plugin();
    const rng = seededRandom(4648);
    for (let i = 0; i < 200; i++) {
      const bytes = rng.bytes(rng.int(70));
      const encoded = base32Encode(bytes);
      expect(encoded).toBe(scure.encode(bytes));
      expect(base32Decode(encoded)?.equals(bytes)).toBe(true);
      expect(Buffer.from(scure.decode(encoded)).equals(bytes)).toBe(true);
    }
  });
});
