/**
 * The HMAC hash functions the OTP algorithms are defined over: SHA-1 (RFC 4226), plus SHA-256 and
 * SHA-512 (RFC 6238 §1.2, RFC 6287 §5.1). The names are node:crypto's digest names.
 */
export type HashAlgorithm = 'sha1' | 'sha256' | 'sha512';

export const HASH_ALGORITHMS: readonly HashAlgorithm[] = Object.freeze(['sha1', 'sha256', 'sha512']);

const DIGEST_BYTES: Readonly<Record<HashAlgorithm, number>> = Object.freeze({ sha1: 20, sha256: 32, sha512: 64 });

export function isHashAlgorithm(value: unknown): value is HashAlgorithm {
  return value === 'sha1' || value === 'sha256' || value === 'sha512';
}

/** Output size of the hash in bytes (also the RFC 6238 seed size for that mode). */
export function digestLength(algorithm: HashAlgorithm): number {
  return DIGEST_BYTES[algorithm];
}

/** Throws for a value that is not one of the three algorithms: a caller bug, not user input. */
export function assertHashAlgorithm(value: unknown): asserts value is HashAlgorithm {
  if (!isHashAlgorithm(value)) throw new RangeError(`unsupported OTP hash algorithm: ${String(value)}`);
}
