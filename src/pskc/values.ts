import { PskcError } from './errors';

/*
 * Conversions of PSKC text values. Each returns a value or throws a PskcError with the
 * corpus label; none of them lets a JavaScript exception (RangeError, SyntaxError) escape.
 */

const DECIMAL = /^[+-]?[0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** xs:int / xs:unsignedInt attributes and policy elements (RFC 6030 §4.3.4, §5): decimal only. */
export function parseXsInt(text: string, field: string): number {
  const trimmed = text.trim();
  if (!DECIMAL.test(trimmed)) throw new PskcError('invalid_integer', `${field} is not an integer: ${JSON.stringify(clip(trimmed))}`);
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value)) throw new PskcError('invalid_integer', `${field} is out of range: ${clip(trimmed)}`);
  return value;
}

/** Like parseXsInt but unbounded (NumberOfTransactions is xs:nonNegativeInteger). */
export function parseXsInteger(text: string, field: string): bigint {
  const trimmed = text.trim();
  if (!DECIMAL.test(trimmed) || trimmed.length > 40) {
    throw new PskcError('invalid_integer', `${field} is not an integer: ${JSON.stringify(clip(trimmed))}`);
  }
  return BigInt(trimmed);
}

/** xs:boolean: "true" | "false" | "1" | "0" (case-insensitive, as older drafts wrote TRUE). */
export function parseXsBoolean(text: string, field: string): boolean {
  const value = text.trim().toLowerCase();
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new PskcError('invalid_boolean', `${field} is not a boolean: ${JSON.stringify(clip(text))}`);
}

/**
 * Integer data values (Counter, Time, TimeInterval, TimeDrift). RFC 6030 writes them
 * as decimal text; earlier drafts and vendors base64-encode either ASCII digits or a
 * big-endian binary number (misc/integers.pskcxml shows all three forms).
 */
export function parseDataInteger(text: string, field: string): bigint {
  const trimmed = text.replace(/\s+/g, '');
  if (DECIMAL.test(trimmed)) {
    // No PSKC integer needs more than 20 digits; BigInt() of a 1 MB digit string would only burn CPU.
    if (trimmed.length > 40) throw new PskcError('invalid_integer', `${field} is out of range: ${clip(trimmed)}`);
    return BigInt(trimmed);
  }
  if (trimmed.length > 0 && BASE64.test(trimmed)) return bytesToInteger(Buffer.from(trimmed, 'base64'), field);
  throw new PskcError('invalid_integer', `${field} is not an integer: ${JSON.stringify(clip(trimmed))}`);
}

/** `value` if it lies in min..max, else an invalid_integer error naming the field and the range. */
export function checkIntegerRange(value: bigint, field: string, min: bigint, max: bigint): bigint {
  if (value < min || value > max) throw new PskcError('invalid_integer', `${field} ${clip(String(value))} is out of range (${min} to ${max})`);
  return value;
}

/** Decrypted integer values: ASCII digits, or else a big-endian binary number. */
export function bytesToInteger(bytes: Buffer, field: string): bigint {
  if (bytes.length === 0) throw new PskcError('invalid_integer', `${field} is empty`);
  const ascii = bytes.toString('latin1');
  if (/^[0-9]+$/.test(ascii)) {
    if (ascii.length > 40) throw new PskcError('invalid_integer', `${field} is out of range: ${clip(ascii)}`);
    return BigInt(ascii);
  }
  if (bytes.length > 16) throw new PskcError('invalid_integer', `${field} is too long for an integer (${bytes.length} bytes)`);
  return BigInt(`0x${bytes.toString('hex')}`);
}

/** Base64 binary (xs:base64Binary allows whitespace between characters). */
export function parseBase64(text: string, field: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact)) throw new PskcError('malformed_xml', `${field} is not valid base64`);
  return Buffer.from(compact, 'base64');
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;
const LEGACY_US_DATE = /^(\d{2})\/(\d{2})\/(\d{4})$/;

/**
 * xs:dateTime. A value without a zone is taken as UTC (RFC 6030 §4.3.3 examples all
 * carry Z; naive values only occur in pre-RFC drafts, whose `Expiry` is MM/DD/YYYY).
 */
export function parseDateTime(text: string, field: string): Date {
  const trimmed = text.trim();
  let iso: string | undefined;
  const full = DATE_TIME.exec(trimmed);
  if (full) {
    iso = `${full[1]}-${full[2]}-${full[3]}T${full[4]}:${full[5]}:${full[6]}${full[7] ?? ''}${full[8] ?? 'Z'}`;
  } else {
    const us = LEGACY_US_DATE.exec(trimmed);
    if (us) iso = `${us[3]}-${us[1]}-${us[2]}T00:00:00Z`;
  }
  const date = iso === undefined ? undefined : new Date(iso);
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new PskcError('invalid_date', `${field} is not a date: ${JSON.stringify(clip(trimmed))}`);
  }
  return date;
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
