import { isValidDigits } from './truncate';

const ZERO = 0x30;
const NINE = 0x39;

/**
 * True when `code` is exactly `digits` ASCII decimal digits. Anything else (wrong length, spaces,
 * letters, full-width digits, non-strings) is a plain mismatch for the verifiers, never a throw:
 * the code comes straight from an untrusted User-Password.
 */
export function isWellFormedCode(code: string, digits: number): boolean {
  return parseCode(code, digits) !== null;
}

/**
 * The numeric value of a well-formed code, or null. Verifiers compare this integer against
 * `truncated % 10^digits` so the window loops build no strings. Because the length is fixed
 * first, equal integers mean equal zero-padded strings.
 */
export function parseCode(code: unknown, digits: number): number | null {
  if (typeof code !== 'string' || !isValidDigits(digits) || code.length !== digits) return null;
  let value = 0;
  for (let i = 0; i < code.length; i++) {
    const c = code.charCodeAt(i);
    if (c < ZERO || c > NINE) return null;
    value = value * 10 + (c - ZERO);
  }
  return value;
}

const WHITESPACE = /\s/;
const ALL_WHITESPACE = /\s+/g;

/**
 * A code as the user typed it, without whitespace: authenticator apps show codes in groups ("123 456")
 * and people type what they see, or a trailing space. Whitespace is never part of a code, so dropping it
 * turns no wrong code into a right one; what is left is checked as usual.
 */
export function typedCode(text: string): string {
  return WHITESPACE.test(text) ? text.replace(ALL_WHITESPACE, '') : text;
}
