/**
 * The 8-byte moving factor of RFC 4226 §5.2 ("C 8-byte counter value ... big-endian"), kept as two
 * unsigned 32-bit halves so the verify loops can step it without allocating BigInts.
 */

export const TWO_POW_32 = 0x1_0000_0000;
export const MAX_COUNTER = (1n << 64n) - 1n;

export interface CounterHalves {
  hi: number;
  lo: number;
}

/** Splits a counter; throws RangeError if it is not an integer in 0..2^64-1 (a caller bug). */
export function splitCounter(counter: bigint | number): CounterHalves {
  if (typeof counter === 'number') {
    if (!Number.isSafeInteger(counter) || counter < 0) {
      throw new RangeError(`OTP counter must be a non-negative safe integer, got ${counter}`);
    }
    return { hi: Math.floor(counter / TWO_POW_32), lo: counter % TWO_POW_32 };
  }
  if (typeof counter !== 'bigint' || counter < 0n || counter > MAX_COUNTER) {
    throw new RangeError(`OTP counter must be in 0..2^64-1, got ${String(counter)}`);
  }
  return { hi: Number(counter >> 32n), lo: Number(counter & 0xffff_ffffn) };
}

/** Writes the counter big-endian into `target` at `offset` (8 bytes). */
export function writeCounter(target: Buffer, offset: number, hi: number, lo: number): void {
  target.writeUInt32BE(hi, offset);
  target.writeUInt32BE(lo, offset + 4);
}
