import { shown } from './shown';

export { escapeControls, shown } from './shown';

/**
 * The single error type of the PSKC reader. `kind` uses the labels of the shared
 * conformance corpus (conformance/pskc/manifest.json `conventions.error_kind`) so
 * tests and callers compare codes, never message text.
 */
export const PSKC_ERROR_KINDS = [
  // corpus labels
  'malformed_xml',
  'not_a_key_container',
  'unsupported_version',
  'invalid_integer',
  'invalid_boolean',
  'no_key_available',
  'invalid_key_length',
  'invalid_padding',
  'decryption_failed',
  'unsupported_encryption_algorithm',
  'missing_encryption_algorithm',
  'incomplete_key_derivation',
  'key_derivation_not_configured',
  'unsupported_prf',
  'missing_mac_algorithm',
  'unsupported_mac_algorithm',
  'mac_mismatch',
  // our own
  'doctype_refused',
  'too_large',
  'unsupported_namespace',
  'invalid_date',
  'missing_mac',
  'invalid_private_key',
  'not_utf8',
] as const;

export type PskcErrorKind = (typeof PSKC_ERROR_KINDS)[number];

/** Where in the file an error belongs; every field is optional because header errors have no key. */
export interface PskcErrorLocation {
  /** 0-based index of the key in document order. */
  keyIndex?: number;
  serial?: string;
  keyId?: string;
  /** 1-based line of the element (the KeyPackage for key errors). */
  line?: number;
}

export class PskcError extends Error {
  override readonly name = 'PskcError';
  readonly kind: PskcErrorKind;
  readonly keyIndex?: number;
  readonly serial?: string;
  readonly keyId?: string;
  readonly line?: number;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(kind: PskcErrorKind, detail: string, location: PskcErrorLocation = {}, options?: { cause?: unknown }) {
    super(formatMessage(detail, location), options);
    this.kind = kind;
    this.detail = detail;
    this.keyIndex = location.keyIndex;
    this.serial = location.serial;
    this.keyId = location.keyId;
    this.line = location.line;
  }

  /** The same error attributed to a key / line (errors are raised deep down, located higher up). */
  locate(location: PskcErrorLocation): PskcError {
    return new PskcError(
      this.kind,
      this.detail,
      {
        keyIndex: this.keyIndex ?? location.keyIndex,
        serial: this.serial ?? location.serial,
        keyId: this.keyId ?? location.keyId,
        line: this.line ?? location.line,
      },
      { cause: this.cause },
    );
  }
}

export function isPskcError(value: unknown): value is PskcError {
  return value instanceof PskcError;
}

function formatMessage(detail: string, location: PskcErrorLocation): string {
  const where: string[] = [];
  if (location.keyIndex !== undefined) {
    const ids: string[] = [];
    if (location.serial !== undefined) ids.push(`serial ${shown(location.serial)}`);
    if (location.keyId !== undefined) ids.push(`id ${shown(location.keyId)}`);
    where.push(`key ${location.keyIndex}${ids.length ? ` (${ids.join(', ')})` : ''}`);
  }
  if (location.line !== undefined) where.push(`line ${location.line}`);
  return where.length ? `${where.join(', ')}: ${detail}` : detail;
}
