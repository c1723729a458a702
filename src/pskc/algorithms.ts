/**
 * Algorithm URIs: what PSKC files write, what we normalise them to, and how we run them.
 * Matching is on the URI fragment under a known base (or a bare legacy name such as
 * "HMAC-SHA1" / "PBE-3DES112-CBC" from the pre-RFC drafts).
 */

const XMLENC = 'http://www.w3.org/2001/04/xmlenc#';
const XMLENC11 = 'http://www.w3.org/2009/xmlenc11#';
const XMLDSIG = 'http://www.w3.org/2000/09/xmldsig#';
const XMLDSIG_MORE = 'http://www.w3.org/2001/04/xmldsig-more#';
const PKCS5 = 'http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#';
const KNOWN_BASES = [XMLENC, XMLENC11, XMLDSIG, XMLDSIG_MORE, PKCS5];

export type CipherSpec =
  /** RFC 6030 §6.1: CBC with the IV prepended to the CipherValue, PKCS#7 padding. */
  | { readonly type: 'cbc'; readonly uri: string; readonly keyLengths: readonly number[]; readonly blockSize: number; readonly family: 'aes' | 'camellia' | 'tripledes' }
  /** XML Encryption 1.1 §5.2.4: AES-GCM, 96-bit IV prepended, 128-bit tag appended. */
  | { readonly type: 'gcm'; readonly uri: string; readonly keyLengths: readonly number[] }
  /** RFC 3394 (AES) / RFC 3657 (Camellia) key wrap; RFC 5649 padding when `padded` is not false. */
  | { readonly type: 'kw'; readonly uri: string; readonly keyLengths: readonly number[]; readonly family: 'aes' | 'camellia'; readonly padded: boolean | 'auto' }
  /** RFC 3217 Triple-DES key wrap. */
  | { readonly type: 'kw-tripledes'; readonly uri: string; readonly keyLengths: readonly number[] }
  /** RFC 6030 §6.3 asymmetric key transport. */
  | { readonly type: 'rsa'; readonly uri: string; readonly padding: 'pkcs1' | 'oaep-sha1' };

const TRIPLEDES_KEY_LENGTHS = [16, 24]; // two-key (legacy PBE-3DES112) and three-key Triple-DES

const CIPHERS: Record<string, CipherSpec> = {
  'aes128-cbc': { type: 'cbc', uri: `${XMLENC}aes128-cbc`, keyLengths: [16], blockSize: 16, family: 'aes' },
  'aes192-cbc': { type: 'cbc', uri: `${XMLENC}aes192-cbc`, keyLengths: [24], blockSize: 16, family: 'aes' },
  'aes256-cbc': { type: 'cbc', uri: `${XMLENC}aes256-cbc`, keyLengths: [32], blockSize: 16, family: 'aes' },
  'tripledes-cbc': { type: 'cbc', uri: `${XMLENC}tripledes-cbc`, keyLengths: TRIPLEDES_KEY_LENGTHS, blockSize: 8, family: 'tripledes' },
  'camellia128-cbc': { type: 'cbc', uri: `${XMLDSIG_MORE}camellia128-cbc`, keyLengths: [16], blockSize: 16, family: 'camellia' },
  'camellia192-cbc': { type: 'cbc', uri: `${XMLDSIG_MORE}camellia192-cbc`, keyLengths: [24], blockSize: 16, family: 'camellia' },
  'camellia256-cbc': { type: 'cbc', uri: `${XMLDSIG_MORE}camellia256-cbc`, keyLengths: [32], blockSize: 16, family: 'camellia' },
  'aes128-gcm': { type: 'gcm', uri: `${XMLENC11}aes128-gcm`, keyLengths: [16] },
  'aes192-gcm': { type: 'gcm', uri: `${XMLENC11}aes192-gcm`, keyLengths: [24] },
  'aes256-gcm': { type: 'gcm', uri: `${XMLENC11}aes256-gcm`, keyLengths: [32] },
  // xmlenc#kw-aes* is RFC 3394; python-pskc also accepts RFC 5649-padded values there, detected by the IV.
  'kw-aes128': { type: 'kw', uri: `${XMLENC}kw-aes128`, keyLengths: [16], family: 'aes', padded: 'auto' },
  'kw-aes192': { type: 'kw', uri: `${XMLENC}kw-aes192`, keyLengths: [24], family: 'aes', padded: 'auto' },
  'kw-aes256': { type: 'kw', uri: `${XMLENC}kw-aes256`, keyLengths: [32], family: 'aes', padded: 'auto' },
  'kw-aes-128-pad': { type: 'kw', uri: `${XMLENC11}kw-aes-128-pad`, keyLengths: [16], family: 'aes', padded: true },
  'kw-aes-192-pad': { type: 'kw', uri: `${XMLENC11}kw-aes-192-pad`, keyLengths: [24], family: 'aes', padded: true },
  'kw-aes-256-pad': { type: 'kw', uri: `${XMLENC11}kw-aes-256-pad`, keyLengths: [32], family: 'aes', padded: true },
  'kw-camellia128': { type: 'kw', uri: `${XMLDSIG_MORE}kw-camellia128`, keyLengths: [16], family: 'camellia', padded: 'auto' },
  'kw-camellia192': { type: 'kw', uri: `${XMLDSIG_MORE}kw-camellia192`, keyLengths: [24], family: 'camellia', padded: 'auto' },
  'kw-camellia256': { type: 'kw', uri: `${XMLDSIG_MORE}kw-camellia256`, keyLengths: [32], family: 'camellia', padded: 'auto' },
  'kw-tripledes': { type: 'kw-tripledes', uri: `${XMLENC}kw-tripledes`, keyLengths: TRIPLEDES_KEY_LENGTHS },
  // RFC 6030 Figure 8 spells it "rsa_1_5"; XML Encryption says "rsa-1_5". Both mean PKCS#1 v1.5.
  'rsa-1_5': { type: 'rsa', uri: `${XMLENC}rsa-1_5`, padding: 'pkcs1' },
  'rsa_1_5': { type: 'rsa', uri: `${XMLENC}rsa_1_5`, padding: 'pkcs1' },
  'rsa-oaep-mgf1p': { type: 'rsa', uri: `${XMLENC}rsa-oaep-mgf1p`, padding: 'oaep-sha1' },
};

/** Spellings from drafts and vendors for the same ciphers. */
const CIPHER_ALIASES: Record<string, string> = {
  '3des-cbc': 'tripledes-cbc',
  '3des112-cbc': 'tripledes-cbc',
  '3des168-cbc': 'tripledes-cbc',
  'pbe-3des112-cbc': 'tripledes-cbc',
  'pbe-3des168-cbc': 'tripledes-cbc',
  'pbe-aes128-cbc': 'aes128-cbc',
  'pbe-aes192-cbc': 'aes192-cbc',
  'pbe-aes256-cbc': 'aes256-cbc',
  camellia128: 'camellia128-cbc',
  camellia192: 'camellia192-cbc',
  camellia256: 'camellia256-cbc',
  'kw-aes128-pad': 'kw-aes-128-pad',
  'kw-aes192-pad': 'kw-aes-192-pad',
  'kw-aes256-pad': 'kw-aes-256-pad',
  'kw-3des': 'kw-tripledes',
};

/** HMAC algorithms for ValueMAC (RFC 6030 §6.1.1) and PBKDF2 PRFs, by fragment, to the node digest name. */
const HMAC_DIGESTS: Record<string, { uri: string; digest: string }> = {
  'hmac-md5': { uri: `${XMLDSIG_MORE}hmac-md5`, digest: 'md5' },
  'hmac-sha1': { uri: `${XMLDSIG}hmac-sha1`, digest: 'sha1' },
  'hmac-sha224': { uri: `${XMLDSIG_MORE}hmac-sha224`, digest: 'sha224' },
  'hmac-sha256': { uri: `${XMLDSIG_MORE}hmac-sha256`, digest: 'sha256' },
  'hmac-sha384': { uri: `${XMLDSIG_MORE}hmac-sha384`, digest: 'sha384' },
  'hmac-sha512': { uri: `${XMLDSIG_MORE}hmac-sha512`, digest: 'sha512' },
  'hmac-ripemd160': { uri: `${XMLDSIG_MORE}hmac-ripemd160`, digest: 'ripemd160' },
};

const HMAC_ALIASES: Record<string, string> = {
  'hmac-sha-1': 'hmac-sha1',
  'hmac-sha-224': 'hmac-sha224',
  'hmac-sha-256': 'hmac-sha256',
  'hmac-sha-384': 'hmac-sha384',
  'hmac-sha-512': 'hmac-sha512',
  'hmac-ripemd-160': 'hmac-ripemd160',
  hmacwithsha1: 'hmac-sha1',
  hmacwithsha224: 'hmac-sha224',
  hmacwithsha256: 'hmac-sha256',
  hmacwithsha384: 'hmac-sha384',
  hmacwithsha512: 'hmac-sha512',
};

/** The fragment of a URI under a known base, or a bare legacy name; undefined for foreign URIs. */
function fragmentOf(uri: string): string | undefined {
  const trimmed = uri.trim();
  for (const base of KNOWN_BASES) {
    if (trimmed.startsWith(base)) return trimmed.slice(base.length).toLowerCase();
  }
  return /^[A-Za-z0-9_-]+$/.test(trimmed) ? trimmed.toLowerCase() : undefined;
}

/** True for "NONE" / empty, which the pre-RFC drafts use for "not encrypted". */
export function isNoEncryption(uri: string | undefined): boolean {
  return uri === undefined || uri.trim() === '' || uri.trim().toLowerCase() === 'none';
}

export function lookupCipher(uri: string): CipherSpec | undefined {
  const fragment = fragmentOf(uri);
  if (fragment === undefined) return undefined;
  return CIPHERS[CIPHER_ALIASES[fragment] ?? fragment];
}

export function lookupHmac(uri: string): { uri: string; digest: string } | undefined {
  const fragment = fragmentOf(uri);
  if (fragment === undefined) return undefined;
  return HMAC_DIGESTS[HMAC_ALIASES[fragment] ?? fragment];
}

/** The canonical URI for a known cipher or MAC, otherwise the URI as written. */
export function canonicalAlgorithm(uri: string | undefined): string | undefined {
  if (isNoEncryption(uri)) return undefined;
  const written = (uri as string).trim();
  return lookupCipher(written)?.uri ?? lookupHmac(written)?.uri ?? written;
}

/** The legacy draft names ("PBE-3DES112-CBC") that imply a PBKDF2-derived key. */
export function isLegacyPasswordCipher(uri: string): boolean {
  return /^pbe-/i.test(uri.trim());
}

export const PBKDF2_URIS: readonly string[] = [`${PKCS5}pbkdf2`, `${XMLENC11}pbkdf2`];

export const ALGORITHM_BASES = { XMLENC, XMLENC11, XMLDSIG, XMLDSIG_MORE, PKCS5 } as const;
