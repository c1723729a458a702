/** The OTP core: pure functions for HOTP, TOTP, OCRA, verification windows and enrolment helpers. */
export { HASH_ALGORITHMS, digestLength, isHashAlgorithm, type HashAlgorithm } from './algorithm';
export { dynamicTruncate } from './truncate';
export { hotp } from './hotp';
export { timeStep, totp, totpParamsOf, type TotpParams } from './totp';
export { codesEqual } from './compare';
export { typedCode } from './code-format';
export {
  findHotpMatch,
  findTotpMatch,
  isWellFormedCode,
  type HotpMatch,
  type HotpParams,
  type HotpSearch,
  type OtpParams,
  type TotpMatch,
  type TotpSearch,
} from './verify';
export { resyncHotp, resyncTotp, type HotpResyncSearch, type TotpResyncSearch } from './resync';
export {
  findOcraMatch,
  ocra,
  ocraChallenge,
  ocraPinHash,
  ocraTimestamp,
  OcraInputError,
  OcraSuiteError,
  parseOcraSuite,
  type OcraInput,
  type OcraMatch,
  type OcraQuestionFormat,
  type OcraSearch,
  type OcraSuite,
} from './ocra';
export { MAX_OCRA_QUESTION_LENGTH } from './ocra-suite';
export { base32Decode, base32Encode } from './base32';
export { buildKeyUri, KeyUriError, parseKeyUri, type KeyUriInput, type ParsedKeyUri } from './key-uri';
export { randomSecret, secretLengthFor } from './secret';
