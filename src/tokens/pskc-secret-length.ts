/*
 * How long a decrypted OTP secret may be.
 *
 * RFC 4226 §4 R6: "The length of the shared secret MUST be at least 128 bits. This document RECOMMENDs
 * a shared secret length of 160 bits." That would be 16 bytes, but the shared conformance corpus
 * expects RFC 6030's own Figure 2 (and misc/odd-namespace.pskcxml, the same key) to import, and its
 * HOTP secret is the 4 bytes "1234". Until that is decided otherwise, only secrets shorter than any
 * example in the corpus are refused: 1 to 3 bytes is no secret at all (at most 2^24 guesses).
 *
 * HMAC takes a key of any length (RFC 2104 §3 hashes a longer one first), but no token carries more
 * than a 64-byte (SHA-512) seed, and every login would pay for hashing an absurd one.
 */
export const MIN_SECRET_BYTES = 4;
export const MAX_SECRET_BYTES = 1024;

/** Why a secret of `length` bytes cannot be imported, or undefined when it can. */
export function secretLengthProblem(length: number): string | undefined {
  if (length < MIN_SECRET_BYTES) return `the secret is ${length} byte(s), shorter than the ${MIN_SECRET_BYTES}-byte minimum (RFC 4226 §4 R6 asks for at least 16)`;
  if (length > MAX_SECRET_BYTES) return `the secret is ${length} bytes, longer than the ${MAX_SECRET_BYTES}-byte maximum`;
  return undefined;
}
