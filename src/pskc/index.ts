/** PSKC (RFC 6030) reader and decryptor: pure parsing, no storage. */
export { PskcError, PSKC_ERROR_KINDS, isPskcError, escapeControls, shown, type PskcErrorKind } from './errors';
export { readPskc } from './read-pskc';
export { streamPskcFile, type PskcKeyStream } from './stream-pskc';
export { mayUseKey } from './usability';
export type {
  PskcContainer,
  PskcDecryption,
  PskcHeader,
  PskcKey,
  PskcKeyKind,
  PskcPolicy,
  PskcProtection,
  PskcReadOptions,
  PskcSignatureInfo,
} from './types';
/** Test support: generate PSKC files (random keys, every protection method) to round-trip. */
export { writePskc, writePskcChunks, type PskcWriteProtection, type WritableKey, type WritableMac } from './writer';
