import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { digestLength } from './algorithm';
import { parseCode } from './code-format';
import { splitCounter, TWO_POW_32, writeCounter } from './counter';
import type { OcraSuite } from './ocra-suite';
import { dynamicTruncate, formatCode, modulusFor } from './truncate';

export { OcraSuiteError, parseOcraSuite, type OcraQuestionFormat, type OcraSuite } from './ocra-suite';

/*
 * RFC 6287 OCRA. §5.1 DataInput:
 *   OCRASuite (ASCII) || 0x00 || C (8 bytes) || Q (128 bytes) || P (hash) || S (nnn bytes) || T (8 bytes)
 * with each optional field present only when the suite names it. §5.2: the response is the HOTP
 * dynamic truncation of HMAC(K, DataInput) to the suite's digits, or the whole HMAC when t = 0
 * (rendered here as lower-case hex).
 */

export interface OcraInput {
  /** "C": 8-byte counter (0..2^64-1). */
  counter?: bigint;
  /** The challenge as fed to OCRA (for mutual mode, the concatenation of both challenges). */
  question: string;
  /** "PH": the PIN already hashed with the suite's PIN hash (see ocraPinHash). */
  pinHash?: Buffer;
  /** "Snnn": session information; shorter values are left-padded with zero bytes to nnn. */
  session?: Buffer;
  /** "TG": number of time steps since the Unix epoch (see ocraTimestamp). */
  timestamp?: bigint;
}

export interface OcraSearch {
  question: string;
  /** Next unused counter (counter suites). */
  counter?: bigint;
  /** Counters beyond `counter` also tried; default 0. */
  lookAhead?: number;
  /** Unix seconds (time suites). */
  now?: number;
  /** Time steps tried either side of now; default 0. */
  timeWindow?: number;
  /** Last accepted time step: only later steps may match (one-use rule, as RFC 6238 §5.2). */
  afterTimestep?: bigint;
  pinHash?: Buffer;
  session?: Buffer;
}

export interface OcraMatch {
  counter?: bigint;
  timestep?: bigint;
}

/** A malformed input to ocra(): bad question format, missing counter/PIN/time, wrong PIN-hash size. */
export class OcraInputError extends Error {
  readonly code = 'OTP_ERR_OCRA_INPUT';
  constructor(message: string) {
    super(message);
    this.name = 'OcraInputError';
  }
}

/** §5.1 "Q ... 128 bytes". */
const QUESTION_BYTES = 128;

interface DataInput {
  bytes: Buffer;
  /** Where the 8-byte counter sits, or -1. */
  counterOffset: number;
  /** Where the 8-byte timestamp sits, or -1. */
  timeOffset: number;
}

/** The PIN hash the "PH" field expects: H(PIN) with the suite's PIN hash (e.g. SHA-1 of "1234"). */
export function ocraPinHash(suite: OcraSuite, pin: string): Buffer {
  if (suite.pin === undefined) throw new OcraInputError(`suite ${suite.text} takes no PIN`);
  return createHash(suite.pin).update(pin, 'utf8').digest();
}

/** §6.3 "T ... number of time-steps ... since midnight UTC of January 1, 1970". */
export function ocraTimestamp(suite: OcraSuite, unixSeconds: number): bigint {
  if (suite.timeStepSeconds === undefined) throw new OcraInputError(`suite ${suite.text} has no time step`);
  if (!Number.isFinite(unixSeconds) || unixSeconds < 0) throw new OcraInputError('time must be a non-negative number of seconds');
  return BigInt(Math.floor(unixSeconds / suite.timeStepSeconds));
}

/** Computes the OCRA response. Throws OcraInputError for inputs that do not fit the suite. */
export function ocra(suite: OcraSuite, key: Buffer, input: OcraInput): string {
  const question = encodeQuestion(suite.question.format, input.question);
  if (typeof question === 'string') throw new OcraInputError(question);
  const data = buildDataInput(suite, question, input);
  if (data.counterOffset >= 0) {
    if (input.counter === undefined) throw new OcraInputError(`suite ${suite.text} needs a counter`);
    writeBig(data.bytes, data.counterOffset, input.counter, 'counter');
  }
  if (data.timeOffset >= 0) {
    if (input.timestamp === undefined) throw new OcraInputError(`suite ${suite.text} needs a timestamp`);
    writeBig(data.bytes, data.timeOffset, input.timestamp, 'timestamp');
  }
  const hmac = createHmac(suite.algorithm, key).update(data.bytes).digest();
  return suite.digits === 0 ? hmac.toString('hex') : formatCode(dynamicTruncate(hmac), suite.digits);
}

/**
 * Searches counters counter..counter+lookAhead and/or time steps now±timeWindow for `response`.
 * Stateless: the caller stores the returned counter + 1 / timestep atomically. A malformed
 * response or question is a plain null; a missing counter/time/PIN for the suite is a caller bug
 * and throws OcraInputError.
 */
export function findOcraMatch(suite: OcraSuite, key: Buffer, response: string, input: OcraSearch): OcraMatch | null {
  const wanted = parseResponse(suite, response);
  if (wanted === null) return null;
  // The question may be untrusted text (signature mode, client challenges): a bad one is a mismatch.
  const question = encodeQuestion(suite.question.format, input.question);
  if (typeof question === 'string') return null;
  const data = buildDataInput(suite, question, input);

  const counters = candidateCounters(suite, input);
  const timesteps = candidateTimesteps(suite, input);
  const modulus = suite.digits === 0 ? 0 : modulusFor(suite.digits);

  for (const counter of counters) {
    if (counter !== null) writeBig(data.bytes, data.counterOffset, counter, 'counter');
    for (const step of timesteps) {
      if (step !== null) writeCounter(data.bytes, data.timeOffset, Math.floor(step / TWO_POW_32), step % TWO_POW_32);
      const hmac = createHmac(suite.algorithm, key).update(data.bytes).digest();
      const matched =
        typeof wanted === 'number' ? dynamicTruncate(hmac) % modulus === wanted : timingSafeEqual(hmac, wanted);
      if (matched) {
        const found: OcraMatch = {};
        if (counter !== null) found.counter = counter;
        if (step !== null) found.timestep = BigInt(step);
        return found;
      }
    }
  }
  return null;
}

/**
 * A fresh challenge of the suite's format and maximum length, from the CSPRNG by default:
 * N = decimal digits, A = digits and upper-case letters (easy to key into a token), H = upper-case hex.
 * Rejection sampling keeps every symbol equally likely.
 */
export function ocraChallenge(suite: OcraSuite, random: (n: number) => Buffer = randomBytes): string {
  const alphabet = CHALLENGE_ALPHABETS[suite.question.format];
  const limit = 256 - (256 % alphabet.length); // bytes >= limit would bias towards the first symbols
  let out = '';
  while (out.length < suite.question.maxLength) {
    const bytes = random(suite.question.maxLength * 2);
    for (let i = 0; i < bytes.length && out.length < suite.question.maxLength; i++) {
      if (bytes[i] < limit) out += alphabet[bytes[i] % alphabet.length];
    }
  }
  return out;
}

const CHALLENGE_ALPHABETS: Readonly<Record<OcraSuite['question']['format'], string>> = Object.freeze({
  N: '0123456789',
  A: '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  H: '0123456789ABCDEF',
});

/** The response as a number (truncated suites) or the expected full HMAC (t = 0), or null if malformed. */
function parseResponse(suite: OcraSuite, response: string): number | Buffer | null {
  if (suite.digits > 0) return parseCode(response, suite.digits);
  const hexLength = digestLength(suite.algorithm) * 2;
  if (typeof response !== 'string' || response.length !== hexLength || !/^[0-9a-fA-F]+$/.test(response)) return null;
  return Buffer.from(response, 'hex');
}

function candidateCounters(suite: OcraSuite, input: OcraSearch): (bigint | null)[] {
  if (!suite.counter) return [null];
  if (input.counter === undefined) throw new OcraInputError(`suite ${suite.text} needs a counter`);
  const lookAhead = nonNegative('lookAhead', input.lookAhead ?? 0);
  splitCounter(input.counter); // range check
  const out: bigint[] = [];
  for (let i = 0; i <= lookAhead; i++) {
    const c = input.counter + BigInt(i);
    if (c >= 1n << 64n) break;
    out.push(c);
  }
  return out;
}

/** Centre first, then −1, +1, −2 ... so the closest step wins; steps at or before afterTimestep are skipped. */
function candidateTimesteps(suite: OcraSuite, input: OcraSearch): (number | null)[] {
  if (suite.timeStepSeconds === undefined) return [null];
  if (input.now === undefined) throw new OcraInputError(`suite ${suite.text} needs the current time`);
  const window = nonNegative('timeWindow', input.timeWindow ?? 0);
  const current = Number(ocraTimestamp(suite, input.now));
  const lowest = input.afterTimestep === undefined ? 0 : Number(input.afterTimestep) + 1;
  const out: number[] = [];
  for (let distance = 0; distance <= window; distance++) {
    if (current - distance >= lowest) out.push(current - distance);
    if (distance > 0 && current + distance >= lowest) out.push(current + distance);
  }
  return out;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new OcraInputError(`${name} must be a non-negative integer`);
  return value;
}

function writeBig(target: Buffer, offset: number, value: bigint, what: string): void {
  let halves;
  try {
    halves = splitCounter(value);
  } catch {
    throw new OcraInputError(`${what} must be in 0..2^64-1`);
  }
  writeCounter(target, offset, halves.hi, halves.lo);
}

/**
 * Lays out the §5.1 DataInput around an encoded question, with zeroed counter/timestamp slots
 * for the caller to fill. A missing or mis-sized PIN hash or session is a caller bug: throws.
 */
function buildDataInput(suite: OcraSuite, question: Buffer, input: { pinHash?: Buffer; session?: Buffer }): DataInput {
  const suiteBytes = Buffer.from(suite.text, 'ascii');
  const pinLength = suite.pin === undefined ? 0 : digestLength(suite.pin);
  const sessionLength = suite.sessionLength ?? 0;
  const size = suiteBytes.length + 1 + (suite.counter ? 8 : 0) + QUESTION_BYTES + pinLength + sessionLength +
    (suite.timeStepSeconds === undefined ? 0 : 8);
  const bytes = Buffer.alloc(size); // zero-filled: provides the 0x00 separator and all padding
  let offset = suiteBytes.copy(bytes, 0) + 1;

  const counterOffset = suite.counter ? offset : -1;
  if (suite.counter) offset += 8;
  question.copy(bytes, offset);
  offset += QUESTION_BYTES;

  if (suite.pin !== undefined) {
    if (input.pinHash === undefined) throw new OcraInputError(`suite ${suite.text} needs a PIN hash`);
    if (input.pinHash.length !== pinLength) throw new OcraInputError(`PIN hash must be ${pinLength} bytes for ${suite.pin}`);
    input.pinHash.copy(bytes, offset);
    offset += pinLength;
  }
  if (suite.sessionLength !== undefined) {
    if (input.session === undefined) throw new OcraInputError(`suite ${suite.text} needs session information`);
    if (input.session.length > sessionLength) {
      throw new OcraInputError(`session information must be at most ${sessionLength} bytes`);
    }
    // Right-aligned like the RFC's reference code, which left-pads the session hex with zeros.
    input.session.copy(bytes, offset + sessionLength - input.session.length);
    offset += sessionLength;
  }
  const timeOffset = suite.timeStepSeconds === undefined ? -1 : offset;
  return { bytes, counterOffset, timeOffset };
}

/**
 * §5.1 Q: 128 bytes. Returns an error message rather than throwing (the text may be untrusted). Numeric challenges are converted to hexadecimal and, like hex challenges,
 * right-padded with zero nibbles; alphanumeric ones are ASCII right-padded with zero bytes.
 * The length limit is the 128-byte field, not the suite's QFxx (mutual mode feeds two challenges).
 */
function encodeQuestion(format: OcraSuite['question']['format'], question: string): Buffer | string {
  if (typeof question !== 'string' || question.length === 0) return 'challenge must be a non-empty string';
  let hex: string;
  switch (format) {
    case 'N':
      if (!/^[0-9]+$/.test(question)) return 'numeric challenge must contain only digits';
      hex = BigInt(question).toString(16);
      break;
    case 'H':
      if (!/^[0-9a-fA-F]+$/.test(question)) return 'hex challenge must contain only hex digits';
      hex = question;
      break;
    case 'A': {
      if (!/^[\x20-\x7e]+$/.test(question)) return 'alphanumeric challenge must be printable ASCII';
      if (question.length > QUESTION_BYTES) return `challenge must fit ${QUESTION_BYTES} bytes`;
      const out = Buffer.alloc(QUESTION_BYTES);
      out.write(question, 'ascii');
      return out;
    }
  }
  if (hex.length > QUESTION_BYTES * 2) return `challenge must fit ${QUESTION_BYTES} bytes`;
  return Buffer.from(hex.padEnd(QUESTION_BYTES * 2, '0'), 'hex');
}
