import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The shared RFC conformance corpus (see its README.md); overridable for CI checkouts elsewhere. */
import { CONFORMANCE_DIR } from '../support/shared';

export { CONFORMANCE_DIR };

export interface HotpVector {
  counter: number;
  hmac_sha1_hex: string;
  truncated_dec: number;
  otp: string;
}
export interface TotpVector {
  time: number;
  T_hex: string;
  mode: 'SHA1' | 'SHA256' | 'SHA512';
  otp: string;
}
export interface OcraVector {
  section: string;
  kind: string;
  ocra_suite: string;
  key: 'K20' | 'K32' | 'K64';
  counter?: number;
  question: string;
  pin?: string;
  pin_sha1_hex?: string;
  timestamp_hex?: string;
  timestamp_unix_seconds?: number;
  expected: string;
}
export interface Vectors {
  hotp_rfc4226: { secret_hex: string; digits: number; vectors: HotpVector[] };
  totp_rfc6238: {
    time_step_seconds: number;
    t0: number;
    digits: number;
    seeds: Record<TotpVector['mode'], { secret_hex: string }>;
    vectors: TotpVector[];
  };
  ocra_rfc6287: { keys: Record<OcraVector['key'], { hex: string }>; pin: { value: string; sha1_hex: string }; vectors: OcraVector[] };
}

export function loadVectors(): Vectors {
  return JSON.parse(readFileSync(join(CONFORMANCE_DIR, 'vectors.json'), 'utf8')) as Vectors;
}

/**
 * Deterministic PRNG (mulberry32) so a failing randomized cross-check reproduces exactly;
 * the seed is part of the test name.
 */
export function seededRandom(seed: number): { int(maxExclusive: number): number; bytes(n: number): Buffer; pick<T>(items: readonly T[]): T } {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (maxExclusive) => Math.floor(next() * maxExclusive),
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}
