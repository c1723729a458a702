import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import forge from 'node-forge';
import { writePskc, type PskcWriteProtection, type WritableKey } from '../../src/pskc';

/*
 * PSKC files for end-to-end import tests: random transport keys, random secrets, random serials,
 * written by the project's own RFC 6030 writer (itself round-trip tested in test/pskc/generated.test.ts).
 */

export const XMLENC = 'http://www.w3.org/2001/04/xmlenc#';
export const XMLENC11 = 'http://www.w3.org/2009/xmlenc11#';
export const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
export const DSIG_MORE = 'http://www.w3.org/2001/04/xmldsig-more#';
export const PSKC_ALG = {
  hotp: 'urn:ietf:params:xml:ns:keyprov:pskc:hotp',
  totp: 'urn:ietf:params:xml:ns:keyprov:pskc:totp',
  ocra: 'urn:ietf:params:xml:ns:keyprov:pskc:ocra',
} as const;

/** A key we wrote into a file, with what a test needs to compute its codes later. */
export interface GeneratedKey extends WritableKey {
  serial: string;
  secret: Buffer;
}

/** A serial nobody else in the run has; leading zeros kept on purpose (serials are text, not numbers). */
export function randomSerial(prefix = ''): string {
  return `${prefix}0${randomBytes(5).toString('hex')}`;
}

/**
 * Secrets of 16, 24 or 32 bytes: multiples of 8, so every key-wrap algorithm (kw-tripledes has no
 * padding variant) takes them, and long enough for any HMAC.
 */
function randomSecret(): Buffer {
  return randomBytes([16, 24, 32][randomInt(3)]);
}

export function hotpKey(opts: { counter?: bigint; digits?: number; prefix?: string; expiryDate?: Date } = {}): GeneratedKey {
  return {
    serial: randomSerial(opts.prefix),
    manufacturer: 'Generated Tokens Ltd',
    algorithm: PSKC_ALG.hotp,
    digits: opts.digits ?? 6,
    secret: randomSecret(),
    counter: opts.counter ?? BigInt(randomInt(1000)),
    expiryDate: opts.expiryDate,
  };
}

export function totpKey(opts: { digits?: number; period?: number; prefix?: string } = {}): GeneratedKey {
  return {
    serial: randomSerial(opts.prefix),
    manufacturer: 'Generated Tokens Ltd',
    algorithm: PSKC_ALG.totp,
    digits: opts.digits ?? 6,
    secret: randomSecret(),
    timeInterval: opts.period ?? 30,
  };
}

export function ocraKey(suite: string, opts: { counter?: bigint; prefix?: string } = {}): GeneratedKey {
  return {
    serial: randomSerial(opts.prefix),
    algorithm: PSKC_ALG.ocra,
    suite,
    secret: randomBytes(suite.includes('SHA512') ? 64 : suite.includes('SHA256') ? 32 : 20),
    counter: opts.counter,
  };
}

/** An RSA key pair as the files `token import --private-key` reads: PEM, and PKCS#12 under a password. */
export interface RsaMaterial {
  publicKeyPem: string;
  pemFile: string;
  p12File: string;
  p12Password: string;
}

export function writeRsaMaterial(dir: string): RsaMaterial {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const p12Password = `p12-${randomBytes(6).toString('hex')}`;
  const pemFile = path.join(dir, 'transport-key.pem');
  const p12File = path.join(dir, 'transport-key.p12');
  fs.writeFileSync(pemFile, privatePem, { mode: 0o600 });
  fs.writeFileSync(p12File, pkcs12Of(privatePem, p12Password), { mode: 0o600 });
  return { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), pemFile, p12File, p12Password };
}

/** A PKCS#12 bundle (key + a throwaway self-signed certificate), 3DES-protected as most vendors ship them. */
function pkcs12Of(privatePem: string, password: string): Buffer {
  const key = forge.pki.privateKeyFromPem(privatePem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  const name = [{ name: 'commonName', value: 'radotp test transport key' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.sign(key, forge.md.sha256.create());
  const asn1 = forge.pkcs12.toPkcs12Asn1(key, [cert], password, { algorithm: '3des' });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

/** How a file is protected and what `token import` must be told to open it. */
export interface ProtectionCase {
  readonly name: string;
  readonly protection: PskcWriteProtection;
  /** The CLI flags that open the file. */
  readonly args: string[];
  /** What goes to standard input (a password), if anything. */
  readonly stdin?: string;
}

function pskCase(name: string, algorithm: string, keyLength: number, withMac: boolean): ProtectionCase {
  const key = randomBytes(keyLength);
  return {
    name,
    // CBC needs a MAC to be safe (RFC 6030 §6.1.1); key wrap authenticates itself.
    protection: { kind: 'psk', key, algorithm, mac: withMac ? { algorithm: `${DSIG}hmac-sha1`, key: randomBytes(20) } : undefined },
    args: ['--psk', key.toString('hex')],
  };
}

/** Every protection method RFC 6030 defines and the reader supports, each with fresh random material. */
export function protectionCases(rsa: RsaMaterial): ProtectionCase[] {
  const password = `pässwörd ${randomBytes(4).toString('hex')}`;
  return [
    { name: 'plain', protection: { kind: 'plain' }, args: [] },
    pskCase('AES-128-CBC + HMAC-SHA1', `${XMLENC}aes128-cbc`, 16, true),
    pskCase('AES-192-CBC + HMAC-SHA1', `${XMLENC}aes192-cbc`, 24, true),
    pskCase('AES-256-CBC + HMAC-SHA1', `${XMLENC}aes256-cbc`, 32, true),
    pskCase('TripleDES-CBC + HMAC-SHA1', `${XMLENC}tripledes-cbc`, 24, true),
    pskCase('Camellia-128-CBC + HMAC-SHA1', `${DSIG_MORE}camellia128-cbc`, 16, true),
    pskCase('Camellia-256-CBC + HMAC-SHA1', `${DSIG_MORE}camellia256-cbc`, 32, true),
    pskCase('kw-aes128', `${XMLENC}kw-aes128`, 16, false),
    pskCase('kw-aes192', `${XMLENC}kw-aes192`, 24, false),
    pskCase('kw-aes256', `${XMLENC}kw-aes256`, 32, false),
    pskCase('kw-tripledes', `${XMLENC}kw-tripledes`, 24, false),
    pskCase('kw-camellia128', `${DSIG_MORE}kw-camellia128`, 16, false),
    {
      name: 'PBKDF2 password (AES-128-CBC + HMAC-SHA256)',
      protection: {
        kind: 'pbkdf2',
        password,
        iterations: 1000 + randomInt(1000),
        algorithm: `${XMLENC}aes128-cbc`,
        mac: { algorithm: `${DSIG_MORE}hmac-sha256`, key: randomBytes(32) },
      },
      args: ['--password-stdin'],
      stdin: `${password}\n`,
    },
    { name: 'RSA-OAEP, PEM key', protection: { kind: 'rsa', publicKeyPem: rsa.publicKeyPem, algorithm: `${XMLENC}rsa-oaep-mgf1p` }, args: ['--private-key', rsa.pemFile] },
    { name: 'RSA PKCS#1 v1.5, PEM key', protection: { kind: 'rsa', publicKeyPem: rsa.publicKeyPem, algorithm: `${XMLENC}rsa-1_5` }, args: ['--private-key', rsa.pemFile] },
    {
      name: 'RSA-OAEP, PKCS#12 with password',
      protection: { kind: 'rsa', publicKeyPem: rsa.publicKeyPem, algorithm: `${XMLENC}rsa-oaep-mgf1p` },
      args: ['--private-key', rsa.p12File, '--private-key-password-stdin'],
      stdin: `${rsa.p12Password}\n`,
    },
    {
      name: 'RSA PKCS#1 v1.5, PKCS#12 with password',
      protection: { kind: 'rsa', publicKeyPem: rsa.publicKeyPem, algorithm: `${XMLENC}rsa-1_5` },
      args: ['--private-key', rsa.p12File, '--private-key-password-stdin'],
      stdin: `${rsa.p12Password}\n`,
    },
  ];
}

let fileCount = 0;

/** Writes the keys as a PSKC file in `dir` and returns its path. */
export function writePskcFile(dir: string, keys: readonly WritableKey[], protection: PskcWriteProtection): string {
  const file = path.join(dir, `tokens-${++fileCount}.pskc.xml`);
  fs.writeFileSync(file, writePskc(keys, protection));
  return file;
}

/** The 1-based line of the n-th KeyPackage in a file (what an error message must name). */
export function lineOfKeyPackage(xml: string, n: number): number {
  let at = -1;
  for (let i = 0; i <= n; i++) {
    at = xml.indexOf('<pskc:KeyPackage>', at + 1);
    if (at < 0) throw new Error(`no KeyPackage ${n}`);
  }
  return xml.slice(0, at).split('\n').length;
}

/** Flips one bit of the n-th ValueMAC: the file still parses, the MAC no longer matches. */
export function tamperValueMac(xml: string, n = 0): string {
  let seen = -1;
  return xml.replace(/(<pskc:ValueMAC>)([^<]+)(<)/g, (whole, open: string, b64: string, close: string) => {
    if (++seen !== n) return whole;
    const bytes = Buffer.from(b64, 'base64');
    bytes[bytes.length - 1] ^= 0x01;
    return `${open}${bytes.toString('base64')}${close}`;
  });
}
