import crypto from 'node:crypto';
import { hotp, parseKeyUri, timeStep, type HashAlgorithm, type ParsedKeyUri } from '../../src/otp';

/*
 * What an authenticator app does, for end-to-end tests: codes from a seed or an otpauth:// URI, computed
 * by the project's own RFC 4226/6238 primitives (themselves checked against the RFC vectors and otplib).
 */

export interface CodeParams {
  readonly algorithm: HashAlgorithm;
  readonly digits: number;
  /** TOTP step length in seconds. */
  readonly period?: number;
}

export const DEFAULT_PARAMS: CodeParams = { algorithm: 'sha1', digits: 6, period: 30 };

/** The TOTP step number of "now" (t0 = 0). */
export function currentStep(period = 30): number {
  return timeStep(Date.now() / 1000, period);
}

/** The code a TOTP app shows during `step` (a TOTP code is the HOTP of the step number). */
export function totpForStep(seed: Buffer, step: number, p: CodeParams = DEFAULT_PARAMS): string {
  return hotp(seed, step, p.digits, p.algorithm);
}

export function hotpForCounter(seed: Buffer, counter: number | bigint, p: CodeParams = DEFAULT_PARAMS): string {
  return hotp(seed, counter, p.digits, p.algorithm);
}

/** An authenticator app loaded from an otpauth:// URI (what `token enroll --json` prints). */
export class AppFromUri {
  readonly key: ParsedKeyUri;

  constructor(uri: string) {
    const parsed = parseKeyUri(uri);
    if (!parsed) throw new Error(`not an otpauth URI: ${uri}`);
    this.key = parsed;
  }

  get params(): CodeParams {
    return { algorithm: this.key.algorithm, digits: this.key.digits, period: this.key.period };
  }

  /** TOTP: the code of the current step plus `offset` steps. */
  totp(offset = 0): string {
    return totpForStep(this.key.secret, currentStep(this.key.period) + offset, this.params);
  }

  /** HOTP: the code for counter `counter`. */
  hotp(counter: number | bigint): string {
    return hotpForCounter(this.key.secret, counter, this.params);
  }
}

/**
 * A code of the right length that is none of `valid` (the codes the server might accept or call replays).
 * Random, so a test never relies on one lucky constant; the exclusion keeps it a genuine "wrong code".
 */
export function wrongCode(valid: Iterable<string>, digits = 6): string {
  const excluded = new Set(valid);
  for (;;) {
    const code = crypto.randomInt(0, 10 ** digits).toString().padStart(digits, '0');
    if (!excluded.has(code)) return code;
  }
}

/** Every code a TOTP token shows within ±`spread` steps of now: what a wrong code must avoid. */
export function totpCodesAround(seed: Buffer, spread: number, p: CodeParams = DEFAULT_PARAMS): string[] {
  const now = currentStep(p.period);
  const codes: string[] = [];
  for (let s = now - spread; s <= now + spread; s++) codes.push(totpForStep(seed, s, p));
  return codes;
}

/** Every HOTP code for counters [from, to]: what a wrong code must avoid. */
export function hotpCodesBetween(seed: Buffer, from: number, to: number, p: CodeParams = DEFAULT_PARAMS): string[] {
  const codes: string[] = [];
  for (let c = Math.max(0, from); c <= to; c++) codes.push(hotpForCounter(seed, c, p));
  return codes;
}

/** A fresh random seed (20 bytes, as for SHA-1 tokens). */
export function randomSeed(length = 20): Buffer {
  return crypto.randomBytes(length);
}

/**
 * A node reads time by the database's clock (see DatabaseClock), which may be off this process's by a reading's
 * error (half a lopsided round trip): a code sent in the first moments of its step may still be read as the step
 * before's by the server.
 */
const STEP_START_MARGIN_MS = 500;

/**
 * Waits until the TOTP step has at least `marginSeconds` left and is STEP_START_MARGIN_MS old, so a test that needs
 * several codes of "now" and "now + 1" never straddles a step boundary halfway through, and a code at the edge of
 * the window (one step ahead of a learnt drift) is not read as the step before's by the server.
 */
export async function awayFromStepBoundary(marginSeconds = 5, period = 30): Promise<void> {
  const intoMs = Date.now() % (period * 1000);
  const leftMs = period * 1000 - intoMs;
  if (leftMs < marginSeconds * 1000) await new Promise((r) => setTimeout(r, leftMs + STEP_START_MARGIN_MS));
  else if (intoMs < STEP_START_MARGIN_MS) await new Promise((r) => setTimeout(r, STEP_START_MARGIN_MS - intoMs));
}
