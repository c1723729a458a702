import { createCipheriv, createDecipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';
import type { CipherSpec } from './algorithms';
import { PskcError } from './errors';
import { unwrapRfc3394, unwrapTripleDes, wrapRfc3394, wrapTripleDes } from './keywrap';

type SymmetricSpec = Exclude<CipherSpec, { type: 'rsa' }>;

function cbcName(spec: Extract<CipherSpec, { type: 'cbc' }>, key: Buffer): string {
  if (spec.family === 'tripledes') return key.length === 16 ? 'des-ede-cbc' : 'des-ede3-cbc';
  return `${spec.family}-${key.length * 8}-cbc`;
}

export function checkKeyLength(spec: SymmetricSpec, key: Buffer): void {
  if (!spec.keyLengths.includes(key.length)) {
    throw new PskcError(
      'invalid_key_length',
      `a ${key.length}-byte key cannot be used with ${spec.uri} (needs ${spec.keyLengths.join(' or ')} bytes)`,
    );
  }
}

/**
 * Decrypt one CipherValue with a symmetric key. For CBC, RFC 6030 §6.1 puts the IV in
 * front of the ciphertext; `externalIv` covers files that carry it elsewhere (the
 * ActivIdentity container-level <IV>, or one supplied by the operator).
 */
export function decryptSymmetric(spec: SymmetricSpec, key: Buffer, data: Buffer, externalIv?: Buffer): Buffer {
  checkKeyLength(spec, key);
  switch (spec.type) {
    case 'cbc':
      return decryptCbc(spec, key, data, externalIv);
    case 'gcm':
      return decryptGcm(spec, key, data);
    case 'kw':
      return unwrapRfc3394(spec.family, key, data, spec.padded);
    case 'kw-tripledes':
      return unwrapTripleDes(key, data);
  }
}

function decryptCbc(spec: Extract<CipherSpec, { type: 'cbc' }>, key: Buffer, data: Buffer, externalIv?: Buffer): Buffer {
  const bs = spec.blockSize;
  if (externalIv !== undefined && externalIv.length !== bs) {
    throw new PskcError('decryption_failed', `the supplied IV must be ${bs} bytes for ${spec.uri}`);
  }
  const iv = externalIv ?? data.subarray(0, bs);
  const body = externalIv ? data : data.subarray(bs);
  if (body.length === 0 || body.length % bs !== 0) {
    throw new PskcError('decryption_failed', `ciphertext length ${data.length} does not fit ${spec.uri}`);
  }
  const decipher = createDecipheriv(cbcName(spec, key), key, iv).setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(body), decipher.final()]);
  return removePkcs7(padded, bs);
}

/** XML Encryption §5.2 block padding as used by PSKC writers: PKCS#7, every pad byte equal to the pad length. */
function removePkcs7(padded: Buffer, bs: number): Buffer {
  const n = padded[padded.length - 1];
  let bad = n === 0 || n > bs ? 1 : 0;
  for (let i = 1; i <= bs; i++) {
    if (i <= n && padded[padded.length - i] !== n) bad |= 1;
  }
  if (bad) throw new PskcError('invalid_padding', 'invalid padding after decryption (wrong key or modified value)');
  return padded.subarray(0, padded.length - n);
}

function gcmName(key: Buffer): CipherGCMTypes {
  return `aes-${key.length * 8}-gcm` as CipherGCMTypes;
}

function decryptGcm(spec: Extract<CipherSpec, { type: 'gcm' }>, key: Buffer, data: Buffer): Buffer {
  if (data.length < 12 + 16) throw new PskcError('decryption_failed', `ciphertext too short for ${spec.uri}`);
  const decipher = createDecipheriv(gcmName(key), key, data.subarray(0, 12));
  decipher.setAuthTag(data.subarray(data.length - 16));
  try {
    return Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
  } catch (cause) {
    throw new PskcError('decryption_failed', 'AES-GCM authentication failed (wrong key or modified value)', {}, { cause });
  }
}

/** The inverse of decryptSymmetric, used by the test writer. */
export function encryptSymmetric(spec: SymmetricSpec, key: Buffer, plaintext: Buffer): Buffer {
  checkKeyLength(spec, key);
  switch (spec.type) {
    case 'cbc': {
      const iv = randomBytes(spec.blockSize);
      const cipher = createCipheriv(cbcName(spec, key), key, iv);
      return Buffer.concat([iv, cipher.update(plaintext), cipher.final()]);
    }
    case 'gcm': {
      const iv = randomBytes(12);
      const cipher = createCipheriv(gcmName(key), key, iv);
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([iv, body, cipher.getAuthTag()]);
    }
    case 'kw':
      return wrapRfc3394(spec.family, key, plaintext, spec.padded === true || (spec.padded === 'auto' && plaintext.length % 8 !== 0));
    case 'kw-tripledes':
      return wrapTripleDes(key, plaintext);
  }
}
