/**
 * RFC 4226 §5.3 dynamic truncation and decimal formatting, shared by HOTP, TOTP and OCRA
 * (RFC 6287 §5.2 reuses the HOTP truncation for every hash size).
 */

/** Largest code length we produce: the truncated value is 31 bits, so 10 digits hold all of it. */
export const MAX_DIGITS = 10;

/** 10^digits for digits 0..10, precomputed so the verify loops do no Math.pow. */
const MODULI: readonly number[] = Object.freeze(Array.from({ length: MAX_DIGITS + 1 }, (_, d) => 10 ** d));

/**
 * "Let OffsetBits be the low-order 4 bits of String[19]" (§5.3) — generalised to the last byte of
 * any digest, as RFC 6238 §1.2 and RFC 6287 do for SHA-256/512 — then read 31 bits big-endian
 * ("mask the most significant bit ... to avoid confusion about signed vs. unsigned modulo").
 */
export function dynamicTruncate(hmac: Buffer): number {
  const offset = hmac[hmac.length - 1] & 0x0f;
  return (
    ((hmac[offset] & 0x7f) << 24) |
    ((hmac[offset + 1] & 0xff) << 16) |
    ((hmac[offset + 2] & 0xff) << 8) |
    (hmac[offset + 3] & 0xff)
  );
}

/** Code lengths HOTP/TOTP/OCRA may use here: whole numbers 1..10 (RFC 4226 R4 asks for at least 6). */
export function isValidDigits(digits: number): boolean {
  return Number.isInteger(digits) && digits >= 1 && digits <= MAX_DIGITS;
}

export function assertDigits(digits: number): void {
  if (!isValidDigits(digits)) throw new RangeError(`OTP digits must be an integer 1..${MAX_DIGITS}, got ${digits}`);
}

/** 10^digits; digits must already be validated. */
export function modulusFor(digits: number): number {
  return MODULI[digits];
}

/** "Return D = Snum mod 10^Digit" (§5.3), left-padded with zeros to exactly `digits` characters. */
export function formatCode(truncated: number, digits: number): string {
  return String(truncated % MODULI[digits]).padStart(digits, '0');
}
