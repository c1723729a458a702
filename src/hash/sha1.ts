import { BlockHash, readBlockBigEndian } from './block-hash';

/*
 * SHA-1 (RFC 3174), for HOTP/TOTP only: RFC 4226 §5.2 and RFC 6238 §1.2 define the default HOTP as
 * HMAC-SHA-1, and nearly every authenticator app and hardware token uses it. It is here, rather than
 * node:crypto's createHmac, because a TOTP check runs on every login and the native object per call
 * cost several times the hashing itself (see md5.ts); test/hash checks it against node:crypto.
 */
export class Sha1 extends BlockHash {
  readonly digestLength = 20;
  private readonly w = new Int32Array(80);

  constructor() {
    super(new Int32Array(5), true);
    this.reset();
  }

  reset(): this {
    const h = this.h;
    h[0] = 0x67452301;
    h[1] = 0xefcdab89 | 0;
    h[2] = 0x98badcfe | 0;
    h[3] = 0x10325476;
    h[4] = 0xc3d2e1f0 | 0;
    this.restart();
    return this;
  }

  protected compress(block: Uint8Array, offset: number): void {
    const w = this.w;
    // RFC 3174 §6.1 step a-b: sixteen big-endian words, then the message schedule
    readBlockBigEndian(block, offset, w);
    for (let t = 16; t < 80; t++) {
      const v = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!;
      w[t] = (v << 1) | (v >>> 31);
    }
    const h = this.h;
    let a = h[0]!;
    let b = h[1]!;
    let c = h[2]!;
    let d = h[3]!;
    let e = h[4]!;
    let t = 0;
    // RFC 3174 §5-6: four rounds of twenty steps, each with its own f and K (one loop per round, so no branch per step)
    for (; t < 20; t++) {
      const temp = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = temp;
    }
    for (; t < 40; t++) {
      const temp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = temp;
    }
    for (; t < 60; t++) {
      const temp = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + w[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = temp;
    }
    for (; t < 80; t++) {
      const temp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + w[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = temp;
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0;
  }
}
