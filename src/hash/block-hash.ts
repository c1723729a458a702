/**
 * The Merkle–Damgård frame shared by MD5 and SHA-1: 64-byte blocks, the 0x80 / zeros / 64-bit
 * bit-length padding, and the digest written out as words. Subclasses supply the compression
 * function and the word order (MD5 little-endian, RFC 1321 §3.1-3.2; SHA-1 big-endian, RFC 3174 §4).
 *
 * One instance is reused for many messages (reset() between them) and nothing is allocated per
 * message: these hashes run several times per RADIUS request. Not for concurrent use; every use in
 * radotp is synchronous from reset() to digestInto().
 */
export abstract class BlockHash {
  abstract readonly digestLength: number;
  private readonly block = new Uint8Array(64);
  private filled = 0;
  /** Message length in bytes so far (exact up to 2^53, far beyond anything hashed here). */
  private length = 0;

  protected constructor(
    protected readonly h: Int32Array,
    private readonly bigEndian: boolean,
  ) {}

  /** Back to the initial state: a new message starts. */
  abstract reset(): this;

  protected abstract compress(block: Uint8Array, offset: number): void;

  protected restart(): void {
    this.filled = 0;
    this.length = 0;
  }

  /** The state after whole blocks only (no partial block buffered); see loadState. */
  saveState(into: Int32Array, offset: number): void {
    if (this.filled !== 0) throw new Error('hash state can only be saved at a block boundary');
    into.set(this.h, offset);
  }

  /** Continues from a saved state as if `length` bytes (a multiple of 64) had been hashed. */
  loadState(from: Int32Array, offset: number, length: number): this {
    const h = this.h;
    for (let i = 0; i < h.length; i++) h[i] = from[offset + i]!;
    this.filled = 0;
    this.length = length;
    return this;
  }

  get stateLength(): number {
    return this.h.length;
  }

  update(data: Uint8Array, start = 0, end = data.length): this {
    if (start < 0 || end > data.length || start > end) throw new RangeError('hash update range outside the data');
    this.length += end - start;
    let i = start;
    const block = this.block;
    if (this.filled > 0) {
      while (this.filled < 64 && i < end) block[this.filled++] = data[i++]!;
      if (this.filled < 64) return this;
      this.compress(block, 0);
      this.filled = 0;
    }
    for (; end - i >= 64; i += 64) this.compress(data, i);
    while (i < end) block[this.filled++] = data[i++]!;
    return this;
  }

  /** Finishes the message and writes the digest at `out[offset..]`; call reset() before the next one. */
  digestInto(out: Uint8Array, offset = 0): void {
    const bits = this.length * 8;
    const lo = bits >>> 0;
    const hi = Math.floor(bits / 0x100000000) >>> 0;
    const block = this.block;
    block[this.filled++] = 0x80;
    if (this.filled > 56) {
      block.fill(0, this.filled);
      this.compress(block, 0);
      this.filled = 0;
    }
    block.fill(0, this.filled, 56);
    if (this.bigEndian) {
      writeBE(block, 56, hi);
      writeBE(block, 60, lo);
    } else {
      writeLE(block, 56, lo);
      writeLE(block, 60, hi);
    }
    this.compress(block, 0);
    this.filled = 0;
    const h = this.h;
    for (let w = 0; w < h.length; w++) {
      if (this.bigEndian) writeBE(out, offset + 4 * w, h[w]!);
      else writeLE(out, offset + 4 * w, h[w]!);
    }
  }

  digest(): Buffer {
    const out = Buffer.allocUnsafe(this.digestLength);
    this.digestInto(out);
    return out;
  }
}

/** The 64-byte block at `block[offset..]` as sixteen big-endian words, into `w[0..15]` (SHA-1, SHA-256). */
export function readBlockBigEndian(block: Uint8Array, offset: number, w: Int32Array): void {
  for (let t = 0; t < 16; t++) {
    const o = offset + 4 * t;
    w[t] = (block[o]! << 24) | (block[o + 1]! << 16) | (block[o + 2]! << 8) | block[o + 3]!;
  }
}

/** `v` as a 32-bit big-endian word at `out[o..o+3]`. */
export function writeBE(out: Uint8Array, o: number, v: number): void {
  out[o] = v >>> 24;
  out[o + 1] = v >>> 16;
  out[o + 2] = v >>> 8;
  out[o + 3] = v;
}

function writeLE(out: Uint8Array, o: number, v: number): void {
  out[o] = v;
  out[o + 1] = v >>> 8;
  out[o + 2] = v >>> 16;
  out[o + 3] = v >>> 24;
}
