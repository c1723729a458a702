import { BlockHash, readBlockBigEndian } from './block-hash';

/*
 * SHA-256 (FIPS 180-4 §6.2; RFC 6234 §6.2), for the request fingerprint kept with every spend
 * (src/auth/retransmission.ts). It is here, rather than node:crypto's createHash, for the reason md5.ts
 * gives, and one more: each native Hash is an object the garbage collector must track through a weak
 * handle of its own, and its digest a fresh ArrayBuffer. Measured under the benchmark's load, those
 * handles were ~1,300 per young-generation collection (one per login), 0.4–1 ms of each pause.
 * test/hash checks every length against node:crypto.
 */

/** FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** FIPS 180-4 §5.3.3: the initial hash value. */
const INITIAL = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

export class Sha256 extends BlockHash {
  readonly digestLength = 32;
  private readonly w = new Int32Array(64);

  constructor() {
    super(new Int32Array(8), true);
    this.reset();
  }

  reset(): this {
    this.h.set(INITIAL);
    this.restart();
    return this;
  }

  protected compress(block: Uint8Array, offset: number): void {
    const w = this.w;
    // FIPS 180-4 §6.2.2 step 1: the message schedule
    readBlockBigEndian(block, offset, w);
    for (let t = 16; t < 64; t++) {
      const x = w[t - 2]!;
      const y = w[t - 15]!;
      const sigma1 = ((x >>> 17) | (x << 15)) ^ ((x >>> 19) | (x << 13)) ^ (x >>> 10);
      const sigma0 = ((y >>> 7) | (y << 25)) ^ ((y >>> 18) | (y << 14)) ^ (y >>> 3);
      w[t] = (sigma1 + w[t - 7]! + sigma0 + w[t - 16]!) | 0;
    }
    const h = this.h;
    let a = h[0]!;
    let b = h[1]!;
    let c = h[2]!;
    let d = h[3]!;
    let e = h[4]!;
    let f = h[5]!;
    let g = h[6]!;
    let hh = h[7]!;
    // steps 2-3: sixty-four rounds, Ch and Maj as in §4.1.2
    for (let t = 0; t < 64; t++) {
      const bigSigma1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + bigSigma1 + ((e & f) ^ (~e & g)) + K[t]! + w[t]!) | 0;
      const bigSigma0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (bigSigma0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    // step 4: the intermediate hash value
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0;
    h[5] = (h[5]! + f) | 0;
    h[6] = (h[6]! + g) | 0;
    h[7] = (h[7]! + hh) | 0;
  }
}
