/**
 * RADIUS packet codec (RFC 2865 §3, RFC 3579 §3.2, RFC 5997).
 *
 * The decoder is strict and never throws: anything malformed comes back as a `DropReason`,
 * because RFC 2865 §3 says a packet that fails these checks "MUST be silently discarded".
 * The encoders are for our own output and throw RangeError on programming errors (oversized
 * values or packets), which must never happen on the wire.
 *
 * Hot path notes: one pass over the attributes, values are views into the datagram (no copy),
 * failure results are preallocated, and no regex or string work happens per packet.
 */
import { randomBytes } from 'node:crypto';
import {
  AUTHENTICATOR_LENGTH,
  AUTHENTICATOR_OFFSET,
  HEADER_LENGTH,
  MESSAGE_AUTHENTICATOR_LENGTH,
  ZERO_AUTHENTICATOR,
  messageAuthenticatorMatches,
  responseAuthenticatorMatches,
  signMessageAuthenticator,
  signResponseAuthenticator,
} from './message-authenticator';
import { encryptUserPassword } from './password';
import { Attr, Code, type DecodeResult, type DropReason, type Packet, type RawAttribute } from './types';

/** RFC 2865 §3: "The minimum length is 20 and maximum length is 4096." */
export const MIN_PACKET_LENGTH = HEADER_LENGTH;
export const MAX_PACKET_LENGTH = 4096;
/** RFC 2865 §5: the Length octet covers type and length, so a value holds at most 253 octets. */
export const MAX_ATTRIBUTE_VALUE_LENGTH = 253;

const MA_ATTRIBUTE_LENGTH = 2 + MESSAGE_AUTHENTICATOR_LENGTH;

/**
 * The attributes do not fit in one packet: RFC 2865 §3 "The minimum length is 20 and maximum length
 * is 4096." For a reply this is not a bug but a request that cannot be answered (e.g. Proxy-State,
 * which "MUST be returned unmodified", filling the request), so callers can tell it apart.
 */
export class PacketTooLargeError extends RangeError {
  constructor(readonly length: number) {
    super(`packet would be ${length} octets; RFC 2865 §3 allows at most ${MAX_PACKET_LENGTH}`);
    this.name = 'PacketTooLargeError';
  }
}

/** Codes whose Request Authenticator is an MD5 over the packet rather than random (RFC 2866 §3, RFC 5176 §2.3). */
const COMPUTED_REQUEST_AUTHENTICATOR_CODES: ReadonlySet<number> = new Set([4, 40, 43]);

function failure(reason: DropReason): DecodeResult {
  return Object.freeze({ ok: false as const, reason });
}
/** Preallocated: a flood of garbage should not also be a flood of allocations. */
const FAIL: Readonly<Record<
  'too_short' | 'too_long' | 'length_mismatch' | 'attribute_too_short' | 'attribute_overrun' | 'unsupported_code',
  DecodeResult
>> = Object.freeze({
  too_short: failure('too_short'),
  too_long: failure('too_long'),
  length_mismatch: failure('length_mismatch'),
  attribute_too_short: failure('attribute_too_short'),
  attribute_overrun: failure('attribute_overrun'),
  unsupported_code: failure('unsupported_code'),
});

type StructureFailure = 'too_short' | 'too_long' | 'length_mismatch' | 'attribute_too_short' | 'attribute_overrun';

/**
 * RFC 2865 §3 "Length": the packet is `datagram[0, Length)`. "Octets outside the range of the
 * Length field MUST be treated as padding and ignored on reception. If the packet is shorter
 * than the Length field indicates, it MUST be silently discarded." Returns the Length value.
 */
function checkLength(datagram: Buffer): number | StructureFailure {
  if (datagram.length < MIN_PACKET_LENGTH) return 'too_short';
  const length = (datagram[2]! << 8) | datagram[3]!;
  // The 4096 limit is on the packet, i.e. on Length: octets past it are padding, however many there
  // are ("MUST be treated as padding and ignored on reception"), so the datagram may be longer.
  if (length > MAX_PACKET_LENGTH && length <= datagram.length) return 'too_long';
  if (length < MIN_PACKET_LENGTH || length > datagram.length) return 'length_mismatch';
  return length;
}

/**
 * RFC 2865 §5: "If an Attribute with an invalid Length is received, the entire request SHOULD be
 * silently discarded" — a Length below 2 could never advance, and one running past the packet's
 * Length (including a lone type octet at the end) overruns it.
 */
function parseAttributes(datagram: Buffer, length: number): RawAttribute[] | StructureFailure {
  const attributes: RawAttribute[] = [];
  let offset = HEADER_LENGTH;
  while (offset < length) {
    if (offset + 2 > length) return 'attribute_overrun';
    const attributeLength = datagram[offset + 1]!;
    if (attributeLength < 2) return 'attribute_too_short';
    const end = offset + attributeLength;
    if (end > length) return 'attribute_overrun';
    attributes.push({ type: datagram[offset]!, value: datagram.subarray(offset + 2, end) });
    offset = end;
  }
  return attributes;
}

function asBuffer(input: unknown): Buffer | null {
  if (Buffer.isBuffer(input)) return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return null;
}

/**
 * Structural decode of a request datagram. Checks, in this order: datagram size, the Length
 * field, the code (only Access-Request and Status-Server: this is an authentication-only server,
 * so other codes are dropped before their attributes are even parsed), then every attribute's
 * length. Authenticators are not checked here: see `verifyRequest`.
 */
export function decodePacket(datagram: Buffer): DecodeResult {
  const buffer = asBuffer(datagram);
  if (buffer === null) return FAIL.too_short;
  const length = checkLength(buffer);
  if (typeof length === 'string') return FAIL[length];
  const code = buffer[0]!;
  if (code !== Code.AccessRequest && code !== Code.StatusServer) return FAIL.unsupported_code;
  const attributes = parseAttributes(buffer, length);
  if (typeof attributes === 'string') return FAIL[attributes];
  const packet: Packet = {
    code,
    identifier: buffer[1]!,
    authenticator: buffer.subarray(AUTHENTICATOR_OFFSET, HEADER_LENGTH),
    attributes,
    raw: buffer,
  };
  return { ok: true, packet };
}

export type VerifyRequestResult = 'ok' | 'missing_message_authenticator' | 'bad_message_authenticator';

/**
 * Checks the request's Message-Authenticator (RFC 3579 §3.2) against the client's secret.
 *
 * - Present: always verified; a value that is not exactly 16 octets, or more than one
 *   Message-Authenticator, is bad ("Message-Authenticator ... MUST NOT appear more than once",
 *   RFC 3579 §3.3 table "0-1").
 * - Absent: `missing` when the client requires it (Blast-RADIUS, CVE-2024-3596), always for
 *   Status-Server (RFC 5997 §3: "Status-Server packets MUST contain a Message-Authenticator"), and
 *   whenever the packet carries EAP-Message (RFC 3579 §3.2: "Access-Request packets including
 *   EAP-Message attribute(s) without a Message-Authenticator attribute SHOULD be silently
 *   discarded by the RADIUS server"), and whenever it carries Proxy-State while the reply would carry no
 *   Message-Authenticator (`replyOmitsMessageAuthenticator`, a client set to if-requested). Proxy-State "MUST be
 *   returned unmodified" in the reply (RFC 2865 §5.33), which is where Blast-RADIUS (CVE-2024-3596) hides its MD5
 *   collision blocks to turn a Reject into an Accept; only a Message-Authenticator first in the reply stops it.
 *   FreeRADIUS 3.2.5 drops such requests too (limit_proxy_state). A NAS has none to send: Proxy-State "is available
 *   to be sent by a proxy server to another server when forwarding an Access-Request" (§5.33).
 */
export function verifyRequest(
  packet: Packet,
  secret: Buffer,
  opts: { requireMessageAuthenticator: boolean; replyOmitsMessageAuthenticator?: boolean },
): VerifyRequestResult {
  let found: Buffer | undefined;
  let eap = false;
  let proxyState = false;
  const attributes = packet.attributes;
  for (let i = 0; i < attributes.length; i++) {
    const attribute = attributes[i]!;
    if (attribute.type === Attr.EapMessage) eap = true;
    else if (attribute.type === Attr.ProxyState) proxyState = true;
    if (attribute.type !== Attr.MessageAuthenticator) continue;
    if (found !== undefined) return 'bad_message_authenticator';
    found = attribute.value;
  }
  if (found === undefined) {
    const required =
      opts.requireMessageAuthenticator || eap || packet.code === Code.StatusServer || (proxyState && opts.replyOmitsMessageAuthenticator === true);
    return required ? 'missing_message_authenticator' : 'ok';
  }
  if (found.length !== MESSAGE_AUTHENTICATOR_LENGTH) return 'bad_message_authenticator';

  const located = locateInRaw(packet, found);
  const matches = located
    ? messageAuthenticatorMatches(found, secret, packet.raw, located.length, located.offset)
    : matchesReserialized(packet, found, secret);
  return matches ? 'ok' : 'bad_message_authenticator';
}

/**
 * RFC 2865 §5.44 "Table of Attributes", Access-Request column: "0-1  Zero or one instance of this
 * attribute MAY be present in packet." Enforced for the attributes this server or its handler reads
 * (which one of two User-Names or User-Passwords would count is exactly the ambiguity to refuse),
 * for CHAP-Password, and for the NAS's identity. Message-Authenticator (RFC 3579 §3.3 "0-1") is
 * checked by `verifyRequest`; Proxy-State ("0+") may repeat. Indexed by type: a bit, or 0.
 */
const AT_MOST_ONCE_IN_ACCESS_REQUEST: Readonly<Int32Array> = (() => {
  const bits = new Int32Array(256);
  const types = [
    Attr.UserName,
    Attr.UserPassword,
    Attr.ChapPassword,
    Attr.NasIpAddress,
    Attr.State,
    Attr.CallingStationId,
    Attr.NasIdentifier,
  ];
  types.forEach((type, i) => (bits[type] = 1 << i));
  return bits;
})();

const PAP_AND_CHAP = AT_MOST_ONCE_IN_ACCESS_REQUEST[Attr.UserPassword]! | AT_MOST_ONCE_IN_ACCESS_REQUEST[Attr.ChapPassword]!;

/**
 * The four kinds of credential an Access-Request can carry, one bit each, indexed by type. RFC 3579 §3.3 [Note 1]
 * (and RFC 2869 §5.19 [Note 1]): "An Access-Request that contains either a User-Password or CHAP-Password or
 * ARAP-Password or one or more EAP-Message attributes MUST NOT contain more than one type of those four attributes."
 */
const CREDENTIAL_KIND: Readonly<Int32Array> = (() => {
  const bits = new Int32Array(256);
  [Attr.UserPassword, Attr.ChapPassword, Attr.ArapPassword, Attr.EapMessage].forEach((type, i) => (bits[type] = 1 << i));
  return bits;
})();

export type AccessRequestCheck = 'ok' | 'repeated_attribute' | 'pap_and_chap' | 'mixed_credentials';

/**
 * Attribute rules of an Access-Request that make it malformed, to be silently discarded (RFC 2865
 * §1.2 "silently discard": "the implementation discards the packet without further processing").
 * One pass, no allocation.
 *
 * - `repeated_attribute`: more than one of an attribute allowed "0-1" (see above).
 * - `pap_and_chap`: RFC 2865 §4.1: "An Access-Request MUST NOT contain both a User-Password and a
 *   CHAP-Password." (also [Note 1] of the §5.44 table).
 * - `mixed_credentials`: any other two of User-Password, CHAP-Password, ARAP-Password and EAP-Message (see
 *   CREDENTIAL_KIND). Answered, an EAP-Message beside a User-Password was decided as a PAP login, Access-Accept
 *   included: which credential the NAS meant is exactly the ambiguity to refuse.
 */
export function checkAccessRequestAttributes(packet: Packet): AccessRequestCheck {
  let seen = 0;
  let credentials = 0;
  const attributes = packet.attributes;
  for (let i = 0; i < attributes.length; i++) {
    const type = attributes[i]!.type;
    const bit = AT_MOST_ONCE_IN_ACCESS_REQUEST[type]!;
    if ((seen & bit) !== 0) return 'repeated_attribute';
    seen |= bit;
    credentials |= CREDENTIAL_KIND[type]!;
  }
  if ((seen & PAP_AND_CHAP) === PAP_AND_CHAP) return 'pap_and_chap';
  return (credentials & (credentials - 1)) !== 0 ? 'mixed_credentials' : 'ok'; // more than one bit set
}

/**
 * Finds the Message-Authenticator value inside `packet.raw` when it is a view of it (always the
 * case for packets from `decodePacket`), so the HMAC runs over the received octets as they are.
 */
function locateInRaw(packet: Packet, value: Buffer): { offset: number; length: number } | null {
  const raw = packet.raw;
  if (!Buffer.isBuffer(raw) || raw.length < MIN_PACKET_LENGTH || value.buffer !== raw.buffer) return null;
  const length = (raw[2]! << 8) | raw[3]!;
  const offset = value.byteOffset - raw.byteOffset;
  if (length > raw.length || offset < HEADER_LENGTH + 2 || offset + MESSAGE_AUTHENTICATOR_LENGTH > length) return null;
  if (raw[offset - 2] !== Attr.MessageAuthenticator || raw[offset - 1] !== MA_ATTRIBUTE_LENGTH) return null;
  return { offset, length };
}

/** Fallback for hand-built packets: lay the packet out again and check over that. */
function matchesReserialized(packet: Packet, value: Buffer, secret: Buffer): boolean {
  if (packet.authenticator.length !== AUTHENTICATOR_LENGTH) return false;
  let wire: Buffer;
  try {
    wire = layOut(packet.code, packet.identifier, packet.authenticator, packet.attributes, false);
  } catch {
    return false; // not representable on the wire, so it cannot carry a valid HMAC
  }
  let offset = HEADER_LENGTH;
  for (const attribute of packet.attributes) {
    if (attribute.type === Attr.MessageAuthenticator) break;
    offset += 2 + attribute.value.length;
  }
  return messageAuthenticatorMatches(value, secret, wire, wire.length, offset + 2);
}

function checkAttributes(attributes: readonly RawAttribute[], allowMessageAuthenticator: boolean): number {
  let length = 0;
  for (const attribute of attributes) {
    if (!Number.isInteger(attribute.type) || attribute.type < 1 || attribute.type > 255) {
      throw new RangeError(`attribute type ${attribute.type} is not 1..255`);
    }
    if (!allowMessageAuthenticator && attribute.type === Attr.MessageAuthenticator) {
      throw new RangeError('Message-Authenticator is computed by the encoder; do not pass it in attributes');
    }
    if (attribute.value.length > MAX_ATTRIBUTE_VALUE_LENGTH) {
      throw new RangeError(
        `attribute ${attribute.type} value is ${attribute.value.length} octets; RFC 2865 §5 allows at most ${MAX_ATTRIBUTE_VALUE_LENGTH}`,
      );
    }
    length += 2 + attribute.value.length;
  }
  return length;
}

function checkHeader(code: number, identifier: number, authenticator: Buffer): void {
  if (!Number.isInteger(code) || code < 1 || code > 255) throw new RangeError(`packet code ${code} is not 1..255`);
  if (!Number.isInteger(identifier) || identifier < 0 || identifier > 255) {
    throw new RangeError(`identifier ${identifier} is not 0..255`);
  }
  if (authenticator.length !== AUTHENTICATOR_LENGTH) throw new RangeError('authenticator must be 16 octets');
}

/**
 * Header, authenticator field, an optional zeroed Message-Authenticator placeholder first, then
 * the attributes. Throws RangeError if any limit of RFC 2865 §3/§5 would be broken.
 */
function layOut(
  code: number,
  identifier: number,
  authenticator: Buffer,
  attributes: readonly RawAttribute[],
  withMessageAuthenticator: boolean,
): Buffer {
  checkHeader(code, identifier, authenticator);
  const length =
    HEADER_LENGTH + (withMessageAuthenticator ? MA_ATTRIBUTE_LENGTH : 0) + checkAttributes(attributes, !withMessageAuthenticator);
  if (length > MAX_PACKET_LENGTH) throw new PacketTooLargeError(length);
  const out = Buffer.allocUnsafe(length);
  out[0] = code;
  out[1] = identifier;
  out[2] = length >> 8;
  out[3] = length & 0xff;
  authenticator.copy(out, AUTHENTICATOR_OFFSET);
  let offset = HEADER_LENGTH;
  if (withMessageAuthenticator) {
    out[offset] = Attr.MessageAuthenticator;
    out[offset + 1] = MA_ATTRIBUTE_LENGTH;
    out.fill(0, offset + 2, offset + MA_ATTRIBUTE_LENGTH);
    offset += MA_ATTRIBUTE_LENGTH;
  }
  for (const attribute of attributes) {
    out[offset] = attribute.type;
    out[offset + 1] = attribute.value.length + 2;
    attribute.value.copy(out, offset + 2);
    offset += attribute.value.length + 2;
  }
  return out;
}

/** Offset of the Message-Authenticator value when `layOut` placed it first. */
const FIRST_MA_VALUE_OFFSET = HEADER_LENGTH + 2;

/**
 * Builds a signed reply to a request.
 *
 * Message-Authenticator always goes first: the Blast-RADIUS (CVE-2024-3596) mitigation, since a
 * forged MD5 prefix can then not precede it. RFC 3579 §3.2: for responses the HMAC is computed
 * "using the Request Authenticator from the Access-Request" in the authenticator field. Only then
 * is the Response Authenticator (RFC 2865 §3) computed over the final attributes, MA included.
 */
export function encodeResponse(args: {
  code: number;
  identifier: number;
  requestAuthenticator: Buffer;
  secret: Buffer;
  attributes: readonly RawAttribute[];
  /** Default true: the Message-Authenticator goes first (see ReplyMessageAuthenticator for when it may not). */
  messageAuthenticator?: boolean;
}): Buffer {
  const { code, identifier, requestAuthenticator, secret, attributes } = args;
  const withMessageAuthenticator = args.messageAuthenticator ?? true;
  const out = layOut(code, identifier, requestAuthenticator, attributes, withMessageAuthenticator);
  if (withMessageAuthenticator) signMessageAuthenticator(secret, out, out.length, FIRST_MA_VALUE_OFFSET);
  signResponseAuthenticator(out, out.length, requestAuthenticator, secret);
  return out;
}

/**
 * Builds a request, for tests and tools (e.g. a radtest-like CLI).
 *
 * An attribute of type 2 (User-Password) carries the CLEAR password and is hidden here per
 * RFC 2865 §5.2. Access-Request and Status-Server get a random Request Authenticator (RFC 2865 §3:
 * "SHOULD exhibit global and temporal uniqueness"); Accounting-Request, Disconnect-Request and
 * CoA-Request get the MD5 authenticator of RFC 2866 §3 / RFC 5176 §2.3, with the
 * Message-Authenticator computed over a zeroed authenticator field first (RFC 5176 §3.5).
 */
export function encodeRequest(args: {
  code: number;
  identifier: number;
  secret: Buffer;
  attributes: readonly RawAttribute[];
  messageAuthenticator?: boolean;
  authenticator?: Buffer;
}): Buffer {
  const { code, identifier, secret } = args;
  const withMessageAuthenticator = args.messageAuthenticator ?? true;
  const computed = args.authenticator === undefined && COMPUTED_REQUEST_AUTHENTICATOR_CODES.has(code);
  const authenticator = args.authenticator ?? (computed ? ZERO_AUTHENTICATOR : randomBytes(AUTHENTICATOR_LENGTH));

  const attributes = args.attributes.map((attribute) => {
    if (attribute.type !== Attr.UserPassword) return attribute;
    if (computed) throw new RangeError(`User-Password cannot be hidden in a packet of code ${code}`);
    return { type: attribute.type, value: encryptUserPassword(attribute.value, secret, authenticator) };
  });
  const out = layOut(code, identifier, authenticator, attributes, withMessageAuthenticator);
  if (withMessageAuthenticator) {
    signMessageAuthenticator(secret, out, out.length, FIRST_MA_VALUE_OFFSET);
  }
  if (computed) signResponseAuthenticator(out, out.length, ZERO_AUTHENTICATOR, secret);
  return out;
}

/**
 * Client side: is `response` a genuine answer to the request with `requestAuthenticator`?
 * Checks the structure, the Response Authenticator (RFC 2865 §3) and, when present, the
 * Message-Authenticator (RFC 3579 §3.2, computed with the Request Authenticator in place).
 * Never throws.
 */
export function verifyResponse(response: Buffer, requestAuthenticator: Buffer, secret: Buffer): boolean {
  const buffer = asBuffer(response);
  if (buffer === null || !Buffer.isBuffer(requestAuthenticator) || requestAuthenticator.length !== AUTHENTICATOR_LENGTH) {
    return false;
  }
  const length = checkLength(buffer);
  if (typeof length === 'string') return false;
  const attributes = parseAttributes(buffer, length);
  if (typeof attributes === 'string') return false;
  if (!responseAuthenticatorMatches(buffer, length, requestAuthenticator, secret)) return false;

  let offset = HEADER_LENGTH;
  let seen = false;
  for (const attribute of attributes) {
    if (attribute.type === Attr.MessageAuthenticator) {
      if (seen) return false;
      seen = true;
      if (!messageAuthenticatorMatches(attribute.value, secret, buffer, length, offset + 2, requestAuthenticator)) {
        return false;
      }
    }
    offset += 2 + attribute.value.length;
  }
  return true;
}
