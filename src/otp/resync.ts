import { assertHashAlgorithm } from './algorithm';
import { parseCode } from './code-format';
import { TWO_POW_32 } from './counter';
import { hotpTruncated } from './hotp';
import { timeStep, type TotpParams } from './totp';
import { assertDigits, modulusFor } from './truncate';
import { assertWindow, scanCounters, type HotpMatch, type HotpParams, type TotpMatch } from './verify';

/*
 * Resynchronisation (RFC 4226 §7.4 "ask ... for another (2, 3, etc.) HOTP value(s) for
 * resynchronization purposes"; RFC 6238 §6 for TOTP drift): the user supplies two consecutive codes
 * and we search a window far wider than normal verification, because one code in a wide window
 * is guessable but two consecutive ones are not.
 *
 * Never resync backwards. LinOTP CVE-2019-12887 let an attacker replay two old codes to rewind the
 * counter and reopen spent codes; so both codes must lie strictly after the last accepted
 * step / at or after the next unused counter.
 *
 * Each search is one linear pass with one HMAC per candidate position (no quadratic pair search):
 * a position matches when the previous value equalled code1 and this one equals code2.
 */

export interface HotpResyncSearch {
  /** First counter not yet used; code1 may sit at nextCounter .. nextCounter + window. */
  nextCounter: bigint;
  /** How far past nextCounter code1 may be (e.g. 1000 events). */
  window: number;
}

export interface TotpResyncSearch {
  now: number;
  /** Steps either side of now that code1 may sit at (e.g. 2880 = ±24 h of 30 s steps). */
  window: number;
  /** Last accepted step: both codes must be strictly later (RFC 6238 §5.2 one-use rule). */
  afterStep?: number;
}

/** Finds code1 at counter c and code2 at c + 1; returns c + 1. The caller stores counter + 1 as nextCounter. */
export function resyncHotp(key: Buffer, code1: string, code2: string, p: HotpParams, opts: HotpResyncSearch): HotpMatch | null {
  assertDigits(p.digits);
  assertHashAlgorithm(p.algorithm);
  assertWindow('window', opts.window);
  const first = parseCode(code1, p.digits);
  const second = parseCode(code2, p.digits);
  if (first === null || second === null) return null;

  let previousWasFirst = false;
  const counter = scanCounters(key, p.algorithm, modulusFor(p.digits), opts.nextCounter, opts.window + 1, (value) => {
    if (previousWasFirst && value === second) return true;
    previousWasFirst = value === first;
    return false;
  });
  return counter === null ? null : { counter };
}

/**
 * Finds code1 at step s and code2 at s + 1 with s within now ± window; returns the step of code2
 * and drift = that step − current step. If several pairs match (odds ~ window / 10^(2·digits)),
 * the one closest to now wins.
 */
export function resyncTotp(key: Buffer, code1: string, code2: string, p: TotpParams, opts: TotpResyncSearch): TotpMatch | null {
  assertDigits(p.digits);
  assertHashAlgorithm(p.algorithm);
  assertWindow('window', opts.window);
  const first = parseCode(code1, p.digits);
  const second = parseCode(code2, p.digits);
  if (first === null || second === null) return null;

  const current = timeStep(opts.now, p.period, p.t0 ?? 0);
  const lowestFirst = Math.max(0, opts.afterStep === undefined ? 0 : Math.floor(opts.afterStep) + 1, current - opts.window);
  const highestSecond = current + opts.window + 1;
  const modulus = modulusFor(p.digits);

  let best: number | null = null;
  let previousWasFirst = false;
  for (let step = lowestFirst; step <= highestSecond; step++) {
    const value = hotpTruncated(key, Math.floor(step / TWO_POW_32), step % TWO_POW_32, p.algorithm) % modulus;
    if (previousWasFirst && value === second && (best === null || Math.abs(step - current) < Math.abs(best - current))) {
      best = step;
    }
    previousWasFirst = value === first;
  }
  return best === null ? null : { step: best, drift: best - current };
}
