import { createHmac } from 'node:crypto';
import { Hmac, Sha1 } from '../hash';
import { assertHashAlgorithm, type HashAlgorithm } from './algorithm';
import { splitCounter, writeCounter } from './counter';
import { assertDigits, dynamicTruncate, formatCode } from './truncate';

/**
 * One reusable 8-byte message buffer. Safe as module state because every use is synchronous:
 * it is filled and consumed inside a single createHmac().update() call.
 */
const counterMessage = Buffer.alloc(8);

/** HMAC-SHA-1, the default and by far the most common HOTP/TOTP algorithm, without a native object per code. */
const hmacSha1 = new Hmac(new Sha1());
const sha1Digest = Buffer.alloc(20);

/**
 * HOTP(K, C) before the final modulo: HMAC over the 8-byte big-endian counter (RFC 4226 §5.2),
 * dynamically truncated to a 31-bit integer (§5.3). The hot path of every verify loop.
 */
export function hotpTruncated(key: Buffer, hi: number, lo: number, algorithm: HashAlgorithm): number {
  writeCounter(counterMessage, 0, hi, lo);
  if (algorithm === 'sha1') {
    hmacSha1.start(key).update(counterMessage).digestInto(sha1Digest);
    return dynamicTruncate(sha1Digest);
  }
  return dynamicTruncate(createHmac(algorithm, key).update(counterMessage).digest());
}

/**
 * RFC 4226 HOTP value as a zero-padded decimal string of `digits` characters.
 * Any key length is accepted (RFC 4226 R6 recommends 160 bits, but old hardware tokens ship 80-bit seeds).
 * Throws RangeError only for caller bugs: a counter outside 0..2^64-1, digits outside 1..10, unknown algorithm.
 */
export function hotp(key: Buffer, counter: bigint | number, digits: number, algorithm: HashAlgorithm = 'sha1'): string {
  assertDigits(digits);
  assertHashAlgorithm(algorithm);
  const { hi, lo } = splitCounter(counter);
  return formatCode(hotpTruncated(key, hi, lo, algorithm), digits);
}
