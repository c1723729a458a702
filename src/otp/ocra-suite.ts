import type { HashAlgorithm } from './algorithm';

/*
 * RFC 6287 §6 OCRASuite: "<Algorithm>:<CryptoFunction>:<DataInput>", e.g.
 * "OCRA-1:HOTP-SHA1-6:QN08" or "OCRA-1:HOTP-SHA512-8:C-QN08-PSHA1-S064-T1M".
 * The suite text itself is hashed into every response (§5.1 "OCRASuite ... value ... as a byte
 * array"), so it is parsed strictly and kept verbatim.
 */

export type OcraQuestionFormat = 'A' | 'N' | 'H';

export interface OcraSuite {
  /** The suite string exactly as given (it is part of the HMAC input). */
  text: string;
  algorithm: HashAlgorithm;
  /** Response length; 0 = the full HMAC, untruncated (§6.2 "t=0 ... no truncation"). */
  digits: number;
  /** "C": an 8-byte counter is part of the input. */
  counter: boolean;
  /** "QFxx": challenge format (Alphanumeric, Numeric, Hex) and maximum length 4..64. */
  question: { format: OcraQuestionFormat; maxLength: number };
  /** "PH": hash of the PIN is part of the input. */
  pin?: HashAlgorithm;
  /** "Snnn": session information of nnn bytes is part of the input. */
  sessionLength?: number;
  /** "TG": time-step size in seconds; the input holds the number of steps since the Unix epoch. */
  timeStepSeconds?: number;
}

export class OcraSuiteError extends Error {
  readonly code = 'OTP_ERR_OCRA_SUITE';
  constructor(suite: string, reason: string) {
    super(`invalid OCRA suite ${JSON.stringify(suite)}: ${reason}`);
    this.name = 'OcraSuiteError';
  }
}

const HASH_NAMES: Readonly<Record<string, HashAlgorithm>> = Object.freeze({ SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' });

/** §6.3 time-step units and their allowed ranges: "[1-59]S", "[1-59]M", "[0-48]H" (0 is meaningless, so 1-48). */
const TIME_UNITS: Readonly<Record<string, { seconds: number; max: number }>> = Object.freeze({
  S: { seconds: 1, max: 59 },
  M: { seconds: 60, max: 59 },
  H: { seconds: 3600, max: 48 },
});

/** Parses and validates an OCRA suite; throws OcraSuiteError naming the offending part. */
/** RFC 6287 §5.1: the challenge field QFxx, "xx = 04 to 64". */
export const MAX_OCRA_QUESTION_LENGTH = 64;

export function parseOcraSuite(text: string): OcraSuite {
  if (typeof text !== 'string') throw new OcraSuiteError(String(text), 'not a string');
  const parts = text.split(':');
  if (parts.length !== 3) throw new OcraSuiteError(text, 'expected "<Algorithm>:<CryptoFunction>:<DataInput>"');
  const [version, cryptoFunction, dataInput] = parts;

  // §6.1 "OCRA-v ... the version of OCRA"; only version 1 exists.
  if (version !== 'OCRA-1') throw new OcraSuiteError(text, `unsupported algorithm "${version}" (expected OCRA-1)`);

  // §6.2 "HOTP-H-t": H = SHA1 | SHA256 | SHA512, t = 0 or 4..10.
  const cf = /^HOTP-(SHA1|SHA256|SHA512)-(\d{1,2})$/.exec(cryptoFunction);
  if (cf === null) throw new OcraSuiteError(text, `bad crypto function "${cryptoFunction}" (expected HOTP-SHA1|SHA256|SHA512-t)`);
  const digits = Number(cf[2]);
  if (digits !== 0 && (digits < 4 || digits > 10)) {
    throw new OcraSuiteError(text, `truncation length ${digits} must be 0 or 4..10`);
  }

  const suite: OcraSuite = {
    text,
    algorithm: HASH_NAMES[cf[1]],
    digits,
    counter: false,
    question: { format: 'N', maxLength: 8 },
  };

  // §6.3 DataInput, fields in this order: [C] - QFxx - [PH] - [Snnn] - [TG].
  const fields = dataInput.split('-');
  let i = 0;
  if (fields[i] === 'C') {
    suite.counter = true;
    i++;
  }
  const q = /^Q([ANH])(\d\d)$/.exec(fields[i] ?? '');
  if (q === null) throw new OcraSuiteError(text, `expected a challenge field QFxx (F = A, N or H) at "${fields[i] ?? ''}"`);
  const maxLength = Number(q[2]);
  if (maxLength < 4 || maxLength > MAX_OCRA_QUESTION_LENGTH) throw new OcraSuiteError(text, `challenge length ${maxLength} must be 04..${MAX_OCRA_QUESTION_LENGTH}`);
  suite.question = { format: q[1] as OcraQuestionFormat, maxLength };
  i++;

  const pin = /^P(SHA1|SHA256|SHA512)$/.exec(fields[i] ?? '');
  if (pin !== null) {
    suite.pin = HASH_NAMES[pin[1]];
    i++;
  }
  const session = /^S(\d{3})$/.exec(fields[i] ?? '');
  if (session !== null) {
    const length = Number(session[1]);
    if (length === 0) throw new OcraSuiteError(text, 'session information length must be at least 1 byte');
    suite.sessionLength = length;
    i++;
  }
  const time = /^T(\d{1,2})([SMH])$/.exec(fields[i] ?? '');
  if (time !== null) {
    const unit = TIME_UNITS[time[2]];
    const count = Number(time[1]);
    if (count < 1 || count > unit.max) throw new OcraSuiteError(text, `time step ${fields[i]} out of range 1..${unit.max}${time[2]}`);
    suite.timeStepSeconds = count * unit.seconds;
    i++;
  }
  if (i !== fields.length) {
    throw new OcraSuiteError(text, `unexpected data input field "${fields[i]}" (order is [C]-QFxx-[PH]-[Snnn]-[TG], each at most once)`);
  }
  return suite;
}
