import { DocumentReader, scannerLimits } from './document-reader';
import { PskcError } from './errors';
import type { PskcContainer, PskcDecryption, PskcKey, PskcReadOptions } from './types';
import { StrictUtf8Decoder } from './utf8';
import { XmlScanner } from './xml-scanner';

/**
 * Read a whole PSKC document held in memory. Built on the same scanner and per-KeyPackage
 * parsing as streamPskcFile; additionally resolves PIN policy references across keys.
 *
 * ### Examples
 * ```ts
 * const container = readPskc(xml, { psk: Buffer.from(hex, 'hex') });
 * for (const key of container.keys.filter((k) => k.usable)) store(key);
 * ```
 * Throws PskcError (see `kind`) for an unreadable file, and for the first unreadable key
 * unless `keyErrors: 'report'`.
 */
export function readPskc(xml: string | Buffer, decryption: PskcDecryption = {}, options: PskcReadOptions = {}): PskcContainer {
  const limits = scannerLimits(options);
  const size = typeof xml === 'string' ? Buffer.byteLength(xml, 'utf8') : xml.length;
  if (size > limits.maxBytes) throw new PskcError('too_large', `document of ${size} bytes exceeds the ${limits.maxBytes}-byte limit`);
  const text = typeof xml === 'string' ? xml : new StrictUtf8Decoder().decode(xml, true);

  const scanner = new XmlScanner(limits);
  const reader = new DocumentReader(decryption, options);
  const keys: PskcKey[] = [];
  for (const event of [...scanner.push(text), ...scanner.finish()]) keys.push(...reader.onEvent(event));
  const header = reader.header;
  if (!header) throw new PskcError('malformed_xml', 'malformed XML: incomplete document');
  resolvePinReferences(keys);
  return {
    ...header,
    encryptionAlgorithm: header.encryptionAlgorithm ?? reader.firstValueAlgorithm,
    keys,
    signature: reader.signature,
  };
}

/**
 * RFC 6030 §5.1 PINPolicy/@PINKeyId names the key that holds the PIN (algorithm
 * urn:ietf:params:xml:ns:keyprov:pskc:pin). Needs the whole file, so only readPskc does it.
 */
export function resolvePinReferences(keys: PskcKey[]): void {
  const byId = new Map<string, PskcKey>();
  for (const key of keys) if (key.id !== undefined && !byId.has(key.id)) byId.set(key.id, key);
  for (const key of keys) {
    const pinKeyId = key.policy.pinPolicy?.pinKeyId;
    const pinKey = pinKeyId === undefined ? undefined : byId.get(pinKeyId);
    if (pinKey?.secret) key.policy.pin = pinKey.secret.toString('utf8');
  }
}
