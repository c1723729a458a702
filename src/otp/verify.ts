import { assertHashAlgorithm, type HashAlgorithm } from './algorithm';
import { parseCode } from './code-format';
import { splitCounter, TWO_POW_32 } from './counter';
import { hotpTruncated } from './hotp';
import { timeStep, type TotpParams } from './totp';
import { assertDigits, modulusFor } from './truncate';

export { isWellFormedCode } from './code-format';

export interface HotpParams {
  algorithm: HashAlgorithm;
  digits: number;
}

export type OtpParams = ({ kind: 'totp' } & TotpParams) | ({ kind: 'hotp' } & HotpParams);

export interface TotpSearch {
  /** Unix time in seconds of the verification. */
  now: number;
  /** Learnt clock drift in steps (stored from the last success); the window is centred on now + drift. */
  driftSteps: number;
  /** Steps tried on either side of the centre (RFC 6238 §5.2 recommends at most one backward step). */
  window: number;
  /**
   * Last accepted step. RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the
   * OTP after the successful validation has been issued for the first OTP" — so only steps
   * strictly greater than this may match.
   */
  afterStep?: number;
}

export interface TotpMatch {
  /** The step whose code matched: store it as the new "last accepted step". */
  step: number;
  /** matched step − current step: store it as the new learnt drift. */
  drift: number;
}

export interface HotpSearch {
  /** First counter value not yet used. */
  nextCounter: bigint;
  /** How many counters beyond nextCounter are also tried (RFC 4226 §7.4 look-ahead window s). */
  lookAhead: number;
}

export interface HotpMatch {
  /** The counter whose code matched; the caller stores counter + 1 as nextCounter. */
  counter: bigint;
}

const LAST_HALF = TWO_POW_32 - 1;

export function assertWindow(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

function assertParams(p: HotpParams): void {
  assertDigits(p.digits);
  assertHashAlgorithm(p.algorithm);
}

/**
 * Searches the TOTP window for `code` without touching any state: the caller performs the atomic
 * replay check ("step > last accepted step") in the store with the returned step.
 * The centre (now + learnt drift) is tried first, then centre−1, centre+1, centre−2, ... so the
 * closest step wins when two steps happen to share a code. Malformed codes return null.
 */
export function findTotpMatch(key: Buffer, code: string, p: TotpParams, opts: TotpSearch): TotpMatch | null {
  assertParams(p);
  assertWindow('window', opts.window);
  if (!Number.isSafeInteger(opts.driftSteps)) throw new RangeError(`driftSteps must be an integer, got ${opts.driftSteps}`);
  const wanted = parseCode(code, p.digits);
  if (wanted === null) return null;

  const current = timeStep(opts.now, p.period, p.t0 ?? 0);
  const centre = current + opts.driftSteps;
  // Steps before T0 do not exist; steps at or before the last accepted one are replays.
  const lowest = Math.max(0, opts.afterStep === undefined ? 0 : Math.floor(opts.afterStep) + 1);
  const modulus = modulusFor(p.digits);

  for (let distance = 0; distance <= opts.window; distance++) {
    const before = centre - distance;
    if (before >= lowest && totpStepMatches(key, before, p.algorithm, modulus, wanted)) {
      return { step: before, drift: before - current };
    }
    const after = centre + distance;
    if (distance > 0 && after >= lowest && totpStepMatches(key, after, p.algorithm, modulus, wanted)) {
      return { step: after, drift: after - current };
    }
  }
  return null;
}

/**
 * Integer equality of two ≤10-digit values is a single machine comparison, so it leaks nothing
 * about how many digits matched (unlike an early-exit string compare).
 */
function totpStepMatches(key: Buffer, step: number, algorithm: HashAlgorithm, modulus: number, wanted: number): boolean {
  return hotpTruncated(key, Math.floor(step / TWO_POW_32), step % TWO_POW_32, algorithm) % modulus === wanted;
}

/**
 * Searches counters nextCounter .. nextCounter + lookAhead (RFC 4226 §7.4 "look-ahead
 * synchronization window"). Counters below nextCounter are never tried: they are spent (§7.2
 * "the counter ... is incremented ... after a successful authentication"). Stateless like findTotpMatch.
 */
export function findHotpMatch(key: Buffer, code: string, p: HotpParams, opts: HotpSearch): HotpMatch | null {
  assertParams(p);
  assertWindow('lookAhead', opts.lookAhead);
  const wanted = parseCode(code, p.digits);
  if (wanted === null) return null;
  const found = scanCounters(key, p.algorithm, modulusFor(p.digits), opts.nextCounter, opts.lookAhead, (value) => value === wanted);
  return found === null ? null : { counter: found };
}

/**
 * Walks counters start .. start + extra (stopping at 2^64−1), computing `truncated % modulus`
 * for each, and returns the first counter for which `accept` says yes. The halves are stepped by
 * hand so the loop allocates no BigInts. `accept` sees values in counter order, which lets resync
 * look for two consecutive codes in one pass.
 */
export function scanCounters(
  key: Buffer,
  algorithm: HashAlgorithm,
  modulus: number,
  start: bigint,
  extra: number,
  accept: (value: number) => boolean,
): bigint | null {
  let { hi, lo } = splitCounter(start);
  for (let i = 0; i <= extra; i++) {
    if (accept(hotpTruncated(key, hi, lo, algorithm) % modulus)) return start + BigInt(i);
    if (hi === LAST_HALF && lo === LAST_HALF) return null; // 2^64 − 1: no counter after it
    lo += 1;
    if (lo === TWO_POW_32) {
      lo = 0;
      hi += 1;
    }
  }
  return null;
}
