/**
 * One copy of the values the login cache holds once per user or token, over and over.
 *
 * WHY: PostgreSQL's rows come back as fresh JavaScript values, one string per column per row and one BigInt
 * per int8: every cached token held its own 'totp', 'sha1' and user method strings, and a BigInt 0 for its
 * t0. A server warmed with 50,000 users held 928 octets per user, and every object of it is one more for
 * the collector to mark in each full collection, whose pause is a login's wait under load. The cache reads
 * these values and never changes them in place, so one copy of each serves every row.
 */

/**
 * The column values known to repeat, a small closed set: a token's kind and algorithm (the schema's CHECKs) and a
 * user's method (auth.defaultMethod's choices). A value not listed is kept as read: only memory is at stake.
 */
const KNOWN_TEXTS = new Map<string, string>(['totp', 'hotp', 'ocra', 'sha1', 'sha256', 'sha512', 'password', 'token'].map((text) => [text, text]));

/** `text`, as the one copy kept of it when it is one of the known repeating values; any other is left as it is. */
export function sharedText<T extends string>(text: T): T {
  return (KNOWN_TEXTS.get(text) as T | undefined) ?? text;
}

const ZERO = 0n;
/** -1: a token's last step before its first spend. */
const MINUS_ONE = -1n;

/** `n`, as the one copy kept of 0 and -1 (t0, a TOTP token's counter, an unused token's last step). */
export function sharedBigInt(n: bigint): bigint {
  if (n === ZERO) return ZERO;
  if (n === MINUS_ONE) return MINUS_ONE;
  return n;
}
