import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { PskcError } from './errors';

/*
 * Key wrap algorithms written against their RFCs, because node:crypto only offers the
 * AES variants (id-aes128-wrap) and PSKC also needs Camellia (RFC 3657 reuses RFC 3394
 * with Camellia) and Triple-DES (RFC 3217). Tests cross-check the AES and 3DES paths
 * against OpenSSL's id-aes*-wrap and des3-wrap.
 */

/** RFC 3394 §2.2.3.1 default initial value. */
const RFC3394_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
/** RFC 5649 §3 alternative initial value prefix (followed by the 32-bit message length). */
const RFC5649_IV_PREFIX = Buffer.from('a65959a6', 'hex');

export type BlockFamily = 'aes' | 'camellia';

function ecbName(family: BlockFamily, key: Buffer): string {
  return `${family}-${key.length * 8}-ecb`;
}

function xorCounter(a: Buffer, t: number): Buffer {
  const out = Buffer.from(a);
  const tb = Buffer.alloc(8);
  tb.writeBigUInt64BE(BigInt(t));
  for (let i = 0; i < 8; i++) out[i] ^= tb[i];
  return out;
}

/** RFC 3394 §2.2.1 wrap (with RFC 5649 §4.1 when `pad`), for a 128-bit block cipher in ECB mode. */
export function wrapRfc3394(family: BlockFamily, kek: Buffer, plaintext: Buffer, pad: boolean): Buffer {
  let iv: Buffer = RFC3394_IV;
  let data: Buffer = plaintext;
  if (pad) {
    iv = Buffer.concat([RFC5649_IV_PREFIX, Buffer.alloc(4)]);
    iv.writeUInt32BE(plaintext.length, 4);
    data = Buffer.concat([plaintext, Buffer.alloc((8 - (plaintext.length % 8)) % 8)]);
  } else if (plaintext.length % 8 !== 0 || plaintext.length < 16) {
    throw new PskcError('invalid_key_length', 'RFC 3394 key wrap needs a multiple of 8 bytes, at least 16');
  }
  const cipher = createCipheriv(ecbName(family, kek), kek, null).setAutoPadding(false);
  const n = data.length / 8;
  if (n === 1) return cipher.update(Buffer.concat([iv, data])); // RFC 5649 §4.1: a single block is just encrypted
  let a: Buffer = iv;
  const r: Buffer[] = Array.from({ length: n }, (_, i) => data.subarray(i * 8, i * 8 + 8));
  for (let j = 0; j <= 5; j++) {
    for (let i = 0; i < n; i++) {
      const b = cipher.update(Buffer.concat([a, r[i]]));
      a = xorCounter(b.subarray(0, 8), n * j + i + 1);
      r[i] = b.subarray(8, 16);
    }
  }
  return Buffer.concat([a, ...r]);
}

/**
 * RFC 3394 §2.2.2 unwrap with the §2.2.3 integrity check; when `padded` is true or
 * 'auto', RFC 5649 §3 values (IV A65959A6 || MLI) are accepted and unpadded.
 * Any integrity failure is `decryption_failed`: it means a wrong key or a modified value.
 */
export function unwrapRfc3394(family: BlockFamily, kek: Buffer, wrapped: Buffer, padded: boolean | 'auto'): Buffer {
  if (wrapped.length % 8 !== 0 || wrapped.length < 16) {
    throw new PskcError('decryption_failed', `key-wrapped value has an invalid length (${wrapped.length} bytes)`);
  }
  const decipher = createDecipheriv(ecbName(family, kek), kek, null).setAutoPadding(false);
  const n = wrapped.length / 8 - 1;
  let a: Buffer;
  let plain: Buffer;
  if (n === 1) {
    const block = decipher.update(wrapped);
    a = block.subarray(0, 8);
    plain = block.subarray(8);
  } else {
    a = wrapped.subarray(0, 8);
    const r = Array.from({ length: n }, (_, i) => wrapped.subarray((i + 1) * 8, (i + 2) * 8));
    for (let j = 5; j >= 0; j--) {
      for (let i = n - 1; i >= 0; i--) {
        const b = decipher.update(Buffer.concat([xorCounter(a, n * j + i + 1), r[i]]));
        a = b.subarray(0, 8);
        r[i] = b.subarray(8, 16);
      }
    }
    plain = Buffer.concat(r);
  }
  if (padded !== true && n >= 2 && timingSafeEqual(a, RFC3394_IV)) return plain;
  if (padded !== false && timingSafeEqual(a.subarray(0, 4), RFC5649_IV_PREFIX)) {
    const mli = a.readUInt32BE(4);
    // RFC 5649 §3: 8*(n-1) < MLI <= 8*n and the padding octets are zero.
    if (mli > 8 * (n - 1) && mli <= 8 * n && plain.subarray(mli).every((byte) => byte === 0)) return plain.subarray(0, mli);
  }
  throw new PskcError('decryption_failed', 'key unwrap integrity check failed (wrong key or modified value)');
}

/** RFC 3217 §3.2 step 3 / §3.1 step 4: the fixed IV of the second encryption pass. */
const RFC3217_IV = Buffer.from('4adda22c79e82105', 'hex');

function tripleDesCbc(kek: Buffer): string {
  return kek.length === 16 ? 'des-ede-cbc' : 'des-ede3-cbc';
}

/** RFC 3217 §2: CMS key checksum = first 8 octets of SHA-1(key). */
function cmsKeyChecksum(key: Buffer): Buffer {
  return createHash('sha1').update(key).digest().subarray(0, 8);
}

/** RFC 3217 §3.1 Triple-DES key wrap (for tests and the writer). */
export function wrapTripleDes(kek: Buffer, plaintext: Buffer, iv: Buffer = randomBytes(8)): Buffer {
  if (plaintext.length % 8 !== 0) throw new PskcError('invalid_key_length', 'RFC 3217 key wrap needs a multiple of 8 bytes');
  const wkcks = Buffer.concat([plaintext, cmsKeyChecksum(plaintext)]);
  const first = createCipheriv(tripleDesCbc(kek), kek, iv).setAutoPadding(false);
  const temp1 = Buffer.concat([first.update(wkcks), first.final()]);
  const temp3 = Buffer.concat([iv, temp1]).reverse();
  const second = createCipheriv(tripleDesCbc(kek), kek, RFC3217_IV).setAutoPadding(false);
  return Buffer.concat([second.update(temp3), second.final()]);
}

/** RFC 3217 §3.2 Triple-DES key unwrap. */
export function unwrapTripleDes(kek: Buffer, wrapped: Buffer): Buffer {
  // §3.2 step 1: the wrapped key must be a multiple of 8 octets (IV + key + checksum: at least 24).
  if (wrapped.length % 8 !== 0 || wrapped.length < 24) {
    throw new PskcError('decryption_failed', `Triple-DES wrapped value has an invalid length (${wrapped.length} bytes)`);
  }
  const second = createDecipheriv(tripleDesCbc(kek), kek, RFC3217_IV).setAutoPadding(false);
  const temp2 = Buffer.concat([second.update(wrapped), second.final()]).reverse();
  const iv = temp2.subarray(0, 8);
  const first = createDecipheriv(tripleDesCbc(kek), kek, iv).setAutoPadding(false);
  const wkcks = Buffer.concat([first.update(temp2.subarray(8)), first.final()]);
  const key = wkcks.subarray(0, wkcks.length - 8);
  const checksum = wkcks.subarray(wkcks.length - 8);
  if (!timingSafeEqual(cmsKeyChecksum(key), checksum)) {
    throw new PskcError('decryption_failed', 'Triple-DES key unwrap checksum mismatch (wrong key or modified value)');
  }
  return key;
}
