import { createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { lookupCipher, lookupHmac, type CipherSpec } from './algorithms';
import { encryptRsa } from './asymmetric';
import { PskcError } from './errors';
import { NS } from './namespaces';
import { encryptSymmetric } from './symmetric';

/**
 * A minimal RFC 6030 writer, so tests can round-trip every protection method with
 * random keys instead of trusting a handful of fixed files. Not meant for production
 * export (no signatures, only the fields below).
 */
export interface WritableKey {
  id?: string;
  serial?: string;
  manufacturer?: string;
  issuer?: string;
  /** Algorithm URI, e.g. urn:ietf:params:xml:ns:keyprov:pskc:hotp. */
  algorithm: string;
  suite?: string;
  digits?: number;
  secret: Buffer;
  counter?: bigint;
  timeInterval?: number;
  expiryDate?: Date;
  /** RFC 6030 §5.1 PINPolicy/@PINUsageMode (a 4-digit decimal PIN). */
  pinUsageMode?: string;
}

export interface WritableMac {
  /** HMAC URI, e.g. http://www.w3.org/2000/09/xmldsig#hmac-sha1. */
  algorithm: string;
  /** The MAC key, sent encrypted in MACKey; omit for the legacy "transport key is the MAC key" layout. */
  key?: Buffer;
}

export type PskcWriteProtection =
  | { kind: 'plain' }
  | { kind: 'psk'; key: Buffer; algorithm: string; mac?: WritableMac }
  | { kind: 'pbkdf2'; password: string; algorithm: string; iterations: number; salt?: Buffer; prf?: string; keyLength?: number; mac?: WritableMac }
  | { kind: 'rsa'; publicKeyPem: string; algorithm: string };

export function writePskc(keys: Iterable<WritableKey>, protection: PskcWriteProtection): string {
  return [...writePskcChunks(keys, protection)].join('');
}

/** The same document as a sequence of strings, one per KeyPackage, for writing very large files. */
export function* writePskcChunks(keys: Iterable<WritableKey>, protection: PskcWriteProtection): Generator<string> {
  const setup = prepare(protection);
  yield `<?xml version="1.0" encoding="UTF-8"?>\n<pskc:KeyContainer Version="1.0" Id="generated" xmlns:pskc="${NS.pskc}" xmlns:ds="${NS.dsig}" xmlns:xenc="${NS.xenc}" xmlns:xenc11="${NS.xenc11}" xmlns:pkcs5="${NS.pkcs5}">\n`;
  yield setup.header;
  for (const key of keys) yield keyPackage(key, setup);
  yield '</pskc:KeyContainer>\n';
}

interface Setup {
  header: string;
  encrypt?: (plaintext: Buffer) => { cipher: Buffer; algorithm: string };
  mac?: (cipher: Buffer) => Buffer;
}

function prepare(protection: PskcWriteProtection): Setup {
  switch (protection.kind) {
    case 'plain':
      return { header: '' };
    case 'rsa': {
      const spec = cipherSpec(protection.algorithm);
      if (spec.type !== 'rsa') throw new PskcError('unsupported_encryption_algorithm', `${protection.algorithm} is not an RSA algorithm`);
      return {
        header: '<pskc:EncryptionKey><ds:X509Data><ds:X509Certificate>AA==</ds:X509Certificate></ds:X509Data></pskc:EncryptionKey>\n',
        encrypt: (plaintext) => ({ cipher: encryptRsa(spec.padding, protection.publicKeyPem, plaintext), algorithm: protection.algorithm }),
      };
    }
    case 'psk':
    case 'pbkdf2': {
      const spec = cipherSpec(protection.algorithm);
      if (spec.type === 'rsa') throw new PskcError('unsupported_encryption_algorithm', `${protection.algorithm} needs the 'rsa' protection`);
      let transportKey: Buffer;
      let header: string;
      if (protection.kind === 'psk') {
        transportKey = protection.key;
        header = '<pskc:EncryptionKey><ds:KeyName>Pre-shared-key</ds:KeyName></pskc:EncryptionKey>\n';
      } else {
        const salt = protection.salt ?? randomBytes(16);
        const keyLength = protection.keyLength ?? spec.keyLengths[spec.keyLengths.length - 1];
        const digest = protection.prf ? lookupHmac(protection.prf)?.digest : 'sha1';
        if (!digest) throw new PskcError('unsupported_prf', `unknown PRF ${protection.prf}`);
        transportKey = pbkdf2Sync(protection.password, salt, protection.iterations, keyLength, digest);
        header =
          `<pskc:EncryptionKey><xenc11:DerivedKey><xenc11:KeyDerivationMethod Algorithm="${NS.pkcs5}pbkdf2"><pkcs5:PBKDF2-params>` +
          `<Salt><Specified>${salt.toString('base64')}</Specified></Salt><IterationCount>${protection.iterations}</IterationCount>` +
          `<KeyLength>${keyLength}</KeyLength>${protection.prf ? `<PRF Algorithm="${protection.prf}"/>` : ''}</pkcs5:PBKDF2-params>` +
          `</xenc11:KeyDerivationMethod><xenc11:MasterKeyName>Generated password</xenc11:MasterKeyName></xenc11:DerivedKey></pskc:EncryptionKey>\n`;
      }
      const encrypt = (plaintext: Buffer): { cipher: Buffer; algorithm: string } => ({
        cipher: encryptSymmetric(spec, transportKey, plaintext),
        algorithm: protection.algorithm,
      });
      const mac = protection.mac;
      if (!mac) return { header, encrypt };
      const hmac = lookupHmac(mac.algorithm);
      if (!hmac) throw new PskcError('unsupported_mac_algorithm', `unknown MAC ${mac.algorithm}`);
      const macKey = mac.key ?? transportKey;
      let macMethod = `<pskc:MACMethod Algorithm="${mac.algorithm}">`;
      if (mac.key) macMethod += `<pskc:MACKey>${encryptedContent(encrypt(mac.key))}</pskc:MACKey>`;
      macMethod += '</pskc:MACMethod>\n';
      return {
        header: header + macMethod,
        encrypt,
        mac: (cipher) => createHmac(hmac.digest, macKey).update(cipher).digest(),
      };
    }
  }
}

function cipherSpec(uri: string): CipherSpec {
  const spec = lookupCipher(uri);
  if (!spec) throw new PskcError('unsupported_encryption_algorithm', `unknown cipher ${uri}`);
  return spec;
}

function encryptedContent({ cipher, algorithm }: { cipher: Buffer; algorithm: string }): string {
  return `<xenc:EncryptionMethod Algorithm="${algorithm}"/><xenc:CipherData><xenc:CipherValue>${cipher.toString('base64')}</xenc:CipherValue></xenc:CipherData>`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function keyPackage(key: WritableKey, setup: Setup): string {
  const parts: string[] = ['<pskc:KeyPackage>'];
  if (key.serial !== undefined || key.manufacturer !== undefined) {
    parts.push('<pskc:DeviceInfo>');
    if (key.manufacturer !== undefined) parts.push(`<pskc:Manufacturer>${escapeXml(key.manufacturer)}</pskc:Manufacturer>`);
    if (key.serial !== undefined) parts.push(`<pskc:SerialNo>${escapeXml(key.serial)}</pskc:SerialNo>`);
    parts.push('</pskc:DeviceInfo>');
  }
  parts.push(`<pskc:Key${key.id !== undefined ? ` Id="${escapeXml(key.id)}"` : ''} Algorithm="${escapeXml(key.algorithm)}">`);
  if (key.issuer !== undefined) parts.push(`<pskc:Issuer>${escapeXml(key.issuer)}</pskc:Issuer>`);
  if (key.suite !== undefined || key.digits !== undefined) {
    parts.push('<pskc:AlgorithmParameters>');
    if (key.suite !== undefined) parts.push(`<pskc:Suite>${escapeXml(key.suite)}</pskc:Suite>`);
    if (key.digits !== undefined) parts.push(`<pskc:ResponseFormat Length="${key.digits}" Encoding="DECIMAL"/>`);
    parts.push('</pskc:AlgorithmParameters>');
  }
  parts.push('<pskc:Data><pskc:Secret>');
  if (setup.encrypt) {
    const encrypted = setup.encrypt(key.secret);
    parts.push(`<pskc:EncryptedValue>${encryptedContent(encrypted)}</pskc:EncryptedValue>`);
    if (setup.mac) parts.push(`<pskc:ValueMAC>${setup.mac(encrypted.cipher).toString('base64')}</pskc:ValueMAC>`);
  } else {
    parts.push(`<pskc:PlainValue>${key.secret.toString('base64')}</pskc:PlainValue>`);
  }
  parts.push('</pskc:Secret>');
  if (key.counter !== undefined) parts.push(`<pskc:Counter><pskc:PlainValue>${key.counter}</pskc:PlainValue></pskc:Counter>`);
  if (key.timeInterval !== undefined) parts.push(`<pskc:TimeInterval><pskc:PlainValue>${key.timeInterval}</pskc:PlainValue></pskc:TimeInterval>`);
  parts.push('</pskc:Data>');
  if (key.expiryDate || key.pinUsageMode !== undefined) {
    parts.push('<pskc:Policy>');
    if (key.expiryDate) parts.push(`<pskc:ExpiryDate>${key.expiryDate.toISOString()}</pskc:ExpiryDate>`);
    if (key.pinUsageMode !== undefined) parts.push(`<pskc:PINPolicy MinLength="4" MaxLength="4" PINEncoding="DECIMAL" PINUsageMode="${escapeXml(key.pinUsageMode)}"/>`);
    parts.push('</pskc:Policy>');
  }
  parts.push('</pskc:Key></pskc:KeyPackage>\n');
  return parts.join('');
}
