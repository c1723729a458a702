import { randomBytes } from 'node:crypto';
import { assertHashAlgorithm, digestLength, type HashAlgorithm } from './algorithm';

/**
 * Secret size for new tokens: the hash output length, as RFC 6238 Appendix B's seeds do
 * (20/32/64 bytes), and at least RFC 4226 R6's 160 bits. HMAC gains nothing from longer keys
 * (RFC 2104 §3: keys longer than the block are hashed first).
 */
export function secretLengthFor(algorithm: HashAlgorithm): number {
  assertHashAlgorithm(algorithm);
  return digestLength(algorithm);
}

/** A fresh secret from the CSPRNG (RFC 4226 §7.5 "random generation"). */
export function randomSecret(algorithm: HashAlgorithm): Buffer {
  return randomBytes(secretLengthFor(algorithm));
}
