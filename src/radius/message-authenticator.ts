/**
 * The two MD5-based integrity checks of RADIUS, computed over a datagram in place.
 *
 * Both work on slices of the packet and feed the hash piece by piece, so checking a request
 * never copies or mutates the received buffer (another reader may still hold it).
 */
import { timingSafeEqual } from 'node:crypto';
import { Hmac, Md5 } from '../hash';

export const AUTHENTICATOR_OFFSET = 4;
export const AUTHENTICATOR_LENGTH = 16;
export const HEADER_LENGTH = 20;
/** RFC 3579 §3.2: "Message-Authenticator ... Length 18", i.e. a 16-octet value. */
export const MESSAGE_AUTHENTICATOR_LENGTH = 16;

const ZERO_16: Buffer = Buffer.alloc(16); // never written to

/** Reused for every packet: each use runs synchronously from start to digest (see src/hash). */
const md5 = new Md5();
const hmacMd5 = new Hmac(new Md5(), { cacheKeys: true }); // keyed by the clients' shared secrets

/**
 * Signs a packet being built: writes its Message-Authenticator into the packet's own (zeroed) field.
 * Only the value is written, after the whole packet was hashed, so nothing hashed changes under it.
 */
export function signMessageAuthenticator(secret: Buffer, packet: Buffer, length: number, maValueOffset: number): void {
  messageAuthenticatorInto(packet, maValueOffset, secret, packet, length, maValueOffset);
}

/**
 * RFC 3579 §3.2: "Message-Authenticator = HMAC-MD5 (Type, Identifier, Length, Request Authenticator,
 * Attributes)" where "the Message-Authenticator Attribute itself [is] set to zero" for the
 * calculation. For replies the authenticator field holds the *Request* Authenticator, so the
 * caller may substitute it through `authenticator`.
 *
 * Writes it at `target[targetOffset..]`.
 *
 * @param packet the datagram; only `packet[0, length)` is hashed
 * @param maValueOffset offset in `packet` of the 16-octet Message-Authenticator value
 * @param authenticator the 16 octets to hash in place of `packet[4, 20)`; default: as in the packet
 */
function messageAuthenticatorInto(
  target: Uint8Array,
  targetOffset: number,
  secret: Buffer,
  packet: Buffer,
  length: number,
  maValueOffset: number,
  authenticator?: Buffer,
): void {
  const hmac = hmacMd5.start(secret);
  if (authenticator) {
    hmac.update(packet, 0, AUTHENTICATOR_OFFSET);
    hmac.update(authenticator);
    hmac.update(packet, HEADER_LENGTH, maValueOffset);
  } else {
    hmac.update(packet, 0, maValueOffset);
  }
  hmac.update(ZERO_16);
  hmac.update(packet, maValueOffset + MESSAGE_AUTHENTICATOR_LENGTH, length);
  hmac.digestInto(target, targetOffset);
}

/** Where a received Message-Authenticator is recomputed for comparison: used synchronously, then done with. */
const expectedScratch = Buffer.alloc(MESSAGE_AUTHENTICATOR_LENGTH);

/** Constant-time comparison of the received value with the expected HMAC (never `toString()` equality). */
export function messageAuthenticatorMatches(
  received: Buffer,
  secret: Buffer,
  packet: Buffer,
  length: number,
  maValueOffset: number,
  authenticator?: Buffer,
): boolean {
  if (received.length !== MESSAGE_AUTHENTICATOR_LENGTH) return false;
  messageAuthenticatorInto(expectedScratch, 0, secret, packet, length, maValueOffset, authenticator);
  return timingSafeEqual(expectedScratch, received);
}

/** Signs a reply being built: writes its Response Authenticator into `packet[4, 20)`, once everything else was hashed. */
export function signResponseAuthenticator(packet: Buffer, length: number, requestAuthenticator: Buffer, secret: Buffer): void {
  responseHash(packet, length, requestAuthenticator, secret).digestInto(packet, AUTHENTICATOR_OFFSET);
}

/**
 * RFC 2865 §3: "ResponseAuth = MD5(Code+ID+Length+RequestAuth+Attributes+Secret)". The same
 * construction with sixteen zero octets in place of RequestAuth gives the Accounting-Request
 * authenticator (RFC 2866 §3) and the CoA/Disconnect request authenticator (RFC 5176 §2.3).
 */
function responseHash(packet: Buffer, length: number, requestAuthenticator: Buffer, secret: Buffer): Md5 {
  return md5.reset().update(packet, 0, AUTHENTICATOR_OFFSET).update(requestAuthenticator).update(packet, HEADER_LENGTH, length).update(secret);
}

export function responseAuthenticatorMatches(
  packet: Buffer,
  length: number,
  requestAuthenticator: Buffer,
  secret: Buffer,
): boolean {
  const expected = responseHash(packet, length, requestAuthenticator, secret).digest();
  return timingSafeEqual(expected, packet.subarray(AUTHENTICATOR_OFFSET, HEADER_LENGTH));
}

export const ZERO_AUTHENTICATOR: Buffer = ZERO_16;
