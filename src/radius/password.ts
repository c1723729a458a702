/**
 * User-Password hiding, RFC 2865 §5.2:
 *
 *   "Call the shared secret S and the pseudo-random 128-bit Request Authenticator RA. Break the
 *    password into 16-octet chunks p1, p2, etc. with the last one padded at the end with nulls to
 *    a 16-octet boundary. Call the ciphertext blocks c(1), c(2), etc.
 *      b1 = MD5(S + RA)       c(1) = p1 xor b1
 *      b2 = MD5(S + c(1))     c(2) = p2 xor b2
 *      ...
 *    The String will contain c(1)+c(2)+...+c(i)."
 *
 * and "the password ... is at least 16 octets and at most 128 octets".
 */
import { isUtf8 } from 'node:buffer';
import { Md5 } from '../hash';

/** Reused: every use runs synchronously (see src/hash). */
const md5 = new Md5();
const keyStream = Buffer.alloc(16);

const BLOCK = 16;
export const MAX_PASSWORD_LENGTH = 128;

/**
 * Reveals a hidden User-Password. Returns null when the field cannot be a §5.2 ciphertext
 * (not 16..128 octets, or not a multiple of 16); the caller drops the request.
 * Trailing NUL padding is removed (a password cannot end in NUL under this scheme).
 */
export function decryptUserPassword(hidden: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer | null {
  const length = hidden.length;
  if (length < BLOCK || length > MAX_PASSWORD_LENGTH || length % BLOCK !== 0) return null;
  // Not from the shared allocUnsafe pool: clear-text passwords should not linger in pooled memory.
  const clear = Buffer.alloc(length);
  let chain: Buffer = requestAuthenticator;
  for (let offset = 0; offset < length; offset += BLOCK) {
    md5.reset().update(secret).update(chain).digestInto(keyStream);
    for (let i = 0; i < BLOCK; i++) clear[offset + i] = hidden[offset + i]! ^ keyStream[i]!;
    chain = hidden.subarray(offset, offset + BLOCK); // next key stream is keyed by c(i)
  }
  keyStream.fill(0); // with the hidden value it would give the password back
  let end = length;
  while (end > 0 && clear[end - 1] === 0) end--;
  return clear.subarray(0, end);
}

/** Hides a clear-text password (0..128 octets) for an Access-Request; throws RangeError above 128. */
export function encryptUserPassword(clear: Buffer, secret: Buffer, requestAuthenticator: Buffer): Buffer {
  if (clear.length > MAX_PASSWORD_LENGTH) {
    throw new RangeError(`User-Password is ${clear.length} octets; RFC 2865 §5.2 allows at most ${MAX_PASSWORD_LENGTH}`);
  }
  // An empty password still occupies one padded block: the attribute value is at least 16 octets.
  const length = Math.max(BLOCK, Math.ceil(clear.length / BLOCK) * BLOCK);
  const hidden = Buffer.alloc(length);
  clear.copy(hidden);
  let chain: Buffer = requestAuthenticator;
  for (let offset = 0; offset < length; offset += BLOCK) {
    md5.reset().update(secret).update(chain).digestInto(keyStream);
    for (let i = 0; i < BLOCK; i++) hidden[offset + i] = hidden[offset + i]! ^ keyStream[i]!;
    chain = hidden.subarray(offset, offset + BLOCK);
  }
  return hidden;
}

/**
 * Whether a revealed password is text someone typed: valid UTF-8 without C0 control characters or DEL. Hidden with
 * another secret than ours, §5.2 gives back random octets, which pass this about once in ten million 16-octet
 * blocks (each octet printable ASCII with odds 95/256, a multi-byte sequence rarer still); FreeRADIUS warns of
 * "Unprintable characters in the password" for the same reason.
 */
export function isTypedText(clear: Buffer): boolean {
  for (let i = 0; i < clear.length; i++) {
    const octet = clear[i]!;
    if (octet < 0x20 || octet === 0x7f) return false;
  }
  return isUtf8(clear);
}
