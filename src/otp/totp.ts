import type { HashAlgorithm } from './algorithm';
import { hotp } from './hotp';

export interface TotpParams {
  algorithm: HashAlgorithm;
  digits: number;
  /** Time step X in seconds (RFC 6238 §4.1; 30 is the recommended default). */
  period: number;
  /** T0, the Unix time to start counting steps from (default 0). */
  t0?: number;
}

/** A stored token's TOTP parameters (T0 kept as a bigint, in seconds). */
export function totpParamsOf(t: { algorithm: HashAlgorithm; digits: number; period: number; t0: bigint }): TotpParams {
  return { algorithm: t.algorithm, digits: t.digits, period: t.period, t0: Number(t.t0) };
}

/**
 * RFC 6238 §4.2: "T = (Current Unix time - T0) / X", rounded down ("floor function").
 * Fractional seconds (Date.now() / 1000) are fine. Throws RangeError for a non-positive period.
 */
export function timeStep(unixSeconds: number, period: number, t0 = 0): number {
  if (!(period > 0) || !Number.isFinite(period)) throw new RangeError(`TOTP period must be positive, got ${period}`);
  if (!Number.isFinite(unixSeconds) || !Number.isFinite(t0)) throw new RangeError('TOTP time and t0 must be finite');
  return Math.floor((unixSeconds - t0) / period);
}

/** RFC 6238 TOTP: HOTP with the time-step number T as the counter. */
export function totp(key: Buffer, unixSeconds: number, opts: TotpParams): string {
  return hotp(key, timeStep(unixSeconds, opts.period, opts.t0 ?? 0), opts.digits, opts.algorithm);
}
