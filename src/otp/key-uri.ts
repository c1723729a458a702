import { isHashAlgorithm, type HashAlgorithm } from './algorithm';
import { base32Decode, base32Encode } from './base32';
import { MAX_COUNTER } from './counter';
import { assertDigits } from './truncate';

/*
 * Google Authenticator "Key Uri Format" (github.com/google/google-authenticator/wiki/Key-Uri-Format):
 *   otpauth://TYPE/LABEL?PARAMETERS
 * LABEL is "issuer:account" with both parts percent-encoded ("Neither issuer nor account name may
 * themselves contain a colon"); the issuer is repeated as the issuer= parameter ("STRONGLY
 * RECOMMENDED"). Parameters equal to the spec defaults (SHA1, 6 digits, 30 s) are omitted, which
 * is also what otplib's generateURI emits, so apps that ignore those parameters still work.
 */

export interface KeyUriInput {
  type: 'totp' | 'hotp';
  issuer: string;
  account: string;
  secret: Buffer;
  algorithm: HashAlgorithm;
  digits: number;
  /** TOTP step in seconds; default 30. */
  period?: number;
  /** HOTP counter to start from; default 0 ("REQUIRED if type is hotp", so always written). */
  counter?: bigint;
}

export interface ParsedKeyUri {
  type: 'totp' | 'hotp';
  /** From the issuer= parameter, else the label prefix; absent if neither is given. */
  issuer?: string;
  account: string;
  secret: Buffer;
  algorithm: HashAlgorithm;
  digits: number;
  /** Set for TOTP (30 when the URI omits it). */
  period?: number;
  /** Set for HOTP. */
  counter?: bigint;
}

export class KeyUriError extends Error {
  readonly code = 'OTP_ERR_KEY_URI';
  constructor(message: string) {
    super(message);
    this.name = 'KeyUriError';
  }
}

const DEFAULT_DIGITS = 6;
const DEFAULT_PERIOD = 30;
/** Lengths authenticator apps accept in a key URI ("6 or 8"; 7 is tolerated by most). */
const URI_DIGITS = new Set([6, 7, 8]);

/** Builds the URI for a QR code. Throws KeyUriError for enrolment data the format cannot express. */
export function buildKeyUri(p: KeyUriInput): string {
  if (p.issuer.includes(':') || p.account.includes(':')) {
    throw new KeyUriError('issuer and account name must not contain ":" (it separates them in the label)');
  }
  if (p.account.length === 0) throw new KeyUriError('account name must not be empty');
  if (p.secret.length === 0) throw new KeyUriError('secret must not be empty');
  if (!isHashAlgorithm(p.algorithm)) throw new KeyUriError(`unsupported algorithm ${String(p.algorithm)}`);
  assertDigits(p.digits);
  if (!URI_DIGITS.has(p.digits)) throw new KeyUriError(`authenticator apps accept 6-8 digits, not ${p.digits}`);

  const issuer = encodeURIComponent(p.issuer);
  const label = p.issuer.length > 0 ? `${issuer}:${encodeURIComponent(p.account)}` : encodeURIComponent(p.account);
  const params = [`secret=${base32Encode(p.secret)}`];
  if (p.issuer.length > 0) params.push(`issuer=${issuer}`);
  if (p.algorithm !== 'sha1') params.push(`algorithm=${p.algorithm.toUpperCase()}`);
  if (p.digits !== DEFAULT_DIGITS) params.push(`digits=${p.digits}`);
  if (p.type === 'hotp') {
    const counter = p.counter ?? 0n;
    if (counter < 0n || counter > MAX_COUNTER) throw new KeyUriError('counter must be in 0..2^64-1');
    params.push(`counter=${counter}`);
  } else {
    const period = p.period ?? DEFAULT_PERIOD;
    if (!Number.isSafeInteger(period) || period <= 0) throw new KeyUriError(`period must be a positive integer, not ${period}`);
    if (period !== DEFAULT_PERIOD) params.push(`period=${period}`);
  }
  return `otpauth://${p.type}/${label}?${params.join('&')}`;
}

/**
 * Parses an otpauth:// URI (e.g. from an import or a test). Returns null for anything malformed:
 * wrong scheme or type, bad percent-encoding, missing/invalid secret, unknown algorithm,
 * out-of-range digits/period/counter, or a known parameter given twice. Unknown parameters
 * (image=, color= ...) are ignored as the format allows.
 */
export function parseKeyUri(uri: string): ParsedKeyUri | null {
  if (typeof uri !== 'string') return null;
  const match = /^otpauth:\/\/(totp|hotp)\/([^?#]*)(?:\?([^#]*))?$/i.exec(uri);
  if (match === null) return null;
  const type = match[1].toLowerCase() as 'totp' | 'hotp';
  const label = decode(match[2]);
  const params = parseQuery(match[3] ?? '');
  if (label === null || params === null) return null;

  // "a literal or url-encoded colon" separates issuer and account; spaces may follow it.
  const colon = label.indexOf(':');
  const labelIssuer = colon === -1 ? undefined : label.slice(0, colon);
  const account = (colon === -1 ? label : label.slice(colon + 1)).replace(/^ +/, '');
  if (account.length === 0) return null;

  const secret = params.get('secret') === undefined ? null : base32Decode(params.get('secret') as string);
  if (secret === null || secret.length === 0) return null;

  const algorithmText = params.get('algorithm');
  const algorithm = algorithmText === undefined ? 'sha1' : algorithmText.toLowerCase();
  if (!isHashAlgorithm(algorithm)) return null;

  const digits = parseDecimal(params.get('digits'), BigInt(DEFAULT_DIGITS));
  if (digits === null || !URI_DIGITS.has(Number(digits))) return null;

  const issuer = params.get('issuer') ?? labelIssuer;
  const parsed: ParsedKeyUri = { type, account, secret, algorithm, digits: Number(digits) };
  if (issuer !== undefined && issuer.length > 0) parsed.issuer = issuer;

  if (type === 'hotp') {
    const counter = parseDecimal(params.get('counter'), null);
    if (counter === null || counter > MAX_COUNTER) return null;
    parsed.counter = counter;
  } else {
    const period = parseDecimal(params.get('period'), BigInt(DEFAULT_PERIOD));
    if (period === null || period === 0n || period > BigInt(Number.MAX_SAFE_INTEGER)) return null;
    parsed.period = Number(period);
  }
  return parsed;
}

const KNOWN_PARAMS = new Set(['secret', 'issuer', 'algorithm', 'digits', 'period', 'counter']);

function parseQuery(query: string): Map<string, string> | null {
  const params = new Map<string, string>();
  if (query.length === 0) return params;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = decode(eq === -1 ? '' : pair.slice(eq + 1));
    if (name === null || value === null) return null;
    const key = name.toLowerCase();
    if (!KNOWN_PARAMS.has(key)) continue;
    if (params.has(key)) return null; // two different secrets/counters: refuse to guess
    params.set(key, value);
  }
  return params;
}

/** Percent-decoding per RFC 3986 ('+' stays '+': this is a URI, not a form body). */
function decode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** A plain unsigned decimal, the fallback when absent, or null when present but not decimal. */
function parseDecimal(text: string | undefined, fallback: bigint | null): bigint | null {
  if (text === undefined) return fallback;
  return /^[0-9]{1,20}$/.test(text) ? BigInt(text) : null;
}
