import { timingSafeEqual } from 'node:crypto';

/**
 * Compares two codes without an early exit on the first differing character, so response timing
 * does not tell an attacker how many leading digits were right (RFC 4226 §7.2 and the
 * "fr_digest_cmp" rule). Different lengths are simply unequal; the length of a code is not a secret.
 */
export function codesEqual(a: string, b: string): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length !== b.length) return false;
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  // Same UTF-16 length can still mean different UTF-8 byte lengths; timingSafeEqual would throw.
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}
