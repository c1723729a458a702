import { createHash, createHmac } from 'node:crypto';
import radius = require('radius');
import {
  checkAccessRequestAttributes,
  decodePacket,
  encodeRequest,
  encodeResponse,
  MAX_PACKET_LENGTH,
  PacketTooLargeError,
  verifyRequest,
  verifyResponse,
} from '../../src/radius/codec';
import { decryptUserPassword, encryptUserPassword } from '../../src/radius/password';
import { Attr, Code, type DropReason, type Packet, type RawAttribute } from '../../src/radius/types';

const SECRET = Buffer.from('s3cr3t-shared-with-nas');
const OTHER_SECRET = Buffer.from('not-the-right-secret');
const AUTH = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

const attr = (type: number, value: string | Buffer): RawAttribute => ({
  type,
  value: typeof value === 'string' ? Buffer.from(value) : value,
});

/** Builds a datagram byte by byte so hostile layouts can be expressed exactly. */
function datagram(opts: { code?: number; lengthField?: number; attributeBytes?: number[]; padding?: number; totalSize?: number }): Buffer {
  const body = Buffer.from(opts.attributeBytes ?? []);
  const length = 20 + body.length;
  const out = Buffer.alloc(opts.totalSize ?? length + (opts.padding ?? 0), 0xee);
  out[0] = opts.code ?? Code.AccessRequest;
  out[1] = 42;
  out.writeUInt16BE(opts.lengthField ?? length, 2);
  AUTH.copy(out, 4);
  body.copy(out, 20, 0, Math.min(body.length, Math.max(0, out.length - 20)));
  return out;
}

function decodeOk(buffer: Buffer): Packet {
  const result = decodePacket(buffer);
  if (!result.ok) throw new Error(`expected ok, got ${result.reason}`);
  return result.packet;
}

describe('decodePacket: hostile datagrams map to a DropReason (RFC 2865 §3, §5)', () => {
  const cases: Array<[string, DropReason, Buffer]> = [
    ['empty datagram', 'too_short', Buffer.alloc(0)],
    ['19 octets', 'too_short', Buffer.alloc(19, 1)],
    ['4097 octets', 'too_long', datagram({ totalSize: 4097, lengthField: 4097 })],
    ['Length field 19', 'length_mismatch', datagram({ lengthField: 19 })],
    ['Length field 0', 'length_mismatch', datagram({ lengthField: 0 })],
    ['Length field longer than datagram', 'length_mismatch', datagram({ attributeBytes: [1, 3, 0x61], lengthField: 24 })],
    ['Length field 65535', 'length_mismatch', datagram({ lengthField: 0xffff })],
    ['zero-length attribute', 'attribute_too_short', datagram({ attributeBytes: [1, 0, 0x61, 0x62] })],
    ['length-1 attribute', 'attribute_too_short', datagram({ attributeBytes: [1, 1, 0x61] })],
    ['attribute runs past Length', 'attribute_overrun', datagram({ attributeBytes: [1, 5, 0x61, 0x62] })],
    ['second attribute runs past Length', 'attribute_overrun', datagram({ attributeBytes: [1, 3, 0x61, 1, 9, 0x61] })],
    ['lone type octet at the end', 'attribute_overrun', datagram({ attributeBytes: [1, 3, 0x61, 18] })],
    // Length field shorter than the datagram cuts an attribute: the rest is padding, the attribute overruns.
    ['Length field cuts an attribute', 'attribute_overrun', datagram({ attributeBytes: [1, 6, 0x61, 0x62, 0x63, 0x64], lengthField: 23 })],
    ['Access-Accept (2)', 'unsupported_code', datagram({ code: Code.AccessAccept })],
    ['Accounting-Request (4)', 'unsupported_code', datagram({ code: Code.AccountingRequest })],
    ['Access-Challenge (11)', 'unsupported_code', datagram({ code: Code.AccessChallenge })],
    ['CoA-Request (43)', 'unsupported_code', datagram({ code: 43 })],
    ['code 0', 'unsupported_code', datagram({ code: 0 })],
    ['code 255', 'unsupported_code', datagram({ code: 255 })],
  ];
  test.each(cases)('%s -> %s', (_name, reason, buffer) => {
    expect(decodePacket(buffer)).toEqual({ ok: false, reason });
  });

  test('a datagram that is not a Buffer is refused, not thrown on', () => {
    expect(decodePacket('hello' as unknown as Buffer)).toEqual({ ok: false, reason: 'too_short' });
    expect(decodePacket(undefined as unknown as Buffer)).toEqual({ ok: false, reason: 'too_short' });
  });
});

describe('decodePacket: valid datagrams', () => {
  test('octets beyond Length are padding and ignored (RFC 2865 §3)', () => {
    const buffer = datagram({ attributeBytes: [1, 7, ...Buffer.from('alice')], padding: 13 });
    const packet = decodeOk(buffer);
    expect(packet.attributes).toEqual([attr(1, 'alice')]);
    expect(packet.raw).toBe(buffer);
  });

  test.each([
    ['Access-Request', Code.AccessRequest],
    ['Status-Server', Code.StatusServer],
  ])('%s header fields and attributes in wire order', (_name, code) => {
    const bytes = [1, 7, ...Buffer.from('alice'), 33, 3, 9, 24, 2, 33, 2];
    const packet = decodeOk(datagram({ code, attributeBytes: bytes }));
    expect(packet.code).toBe(code);
    expect(packet.identifier).toBe(42);
    expect(packet.authenticator).toEqual(AUTH);
    expect(packet.attributes.map((a) => [a.type, a.value.toString('hex')])).toEqual([
      [1, Buffer.from('alice').toString('hex')],
      [33, '09'],
      [24, ''],
      [33, ''],
    ]);
  });

  test('padding beyond Length is ignored however long the datagram is (RFC 2865 §3), even past 4096 octets', () => {
    const buffer = datagram({ attributeBytes: [1, 7, ...Buffer.from('alice')], totalSize: 4200 });
    expect(decodeOk(buffer).attributes).toEqual([attr(1, 'alice')]);
  });

  test('exactly 4096 octets is accepted', () => {
    const bytes: number[] = [];
    while (bytes.length + 255 <= 4076) bytes.push(26, 255, ...new Array<number>(253).fill(7));
    const rest = 4076 - bytes.length;
    bytes.push(26, rest, ...new Array<number>(rest - 2).fill(7));
    const buffer = datagram({ attributeBytes: bytes });
    expect(buffer.length).toBe(MAX_PACKET_LENGTH);
    expect(decodeOk(buffer).attributes.length).toBe(Math.ceil(4076 / 255));
  });

  test('a header-only packet has no attributes', () => {
    expect(decodeOk(datagram({})).attributes).toEqual([]);
  });
});

describe('User-Password hiding (RFC 2865 §5.2)', () => {
  const lengths = Array.from({ length: 129 }, (_, i) => i);
  test.each(lengths)('round trip of a %i-octet password', (n) => {
    // Non-zero octets: trailing NULs are padding by definition and cannot round-trip.
    const clear = Buffer.from(Array.from({ length: n }, (_, i) => 1 + ((i * 37) % 255)));
    const hidden = encryptUserPassword(clear, SECRET, AUTH);
    expect(hidden.length).toBe(Math.max(16, Math.ceil(n / 16) * 16));
    if (n > 0) expect(hidden.subarray(0, n).equals(clear)).toBe(false);
    expect(decryptUserPassword(hidden, SECRET, AUTH)).toEqual(clear);
  });

  test('129 octets is refused', () => {
    expect(() => encryptUserPassword(Buffer.alloc(129, 0x61), SECRET, AUTH)).toThrow(RangeError);
  });

  test('matches the RFC 2865 §5.2 construction computed independently', () => {
    const clear = Buffer.from('correct horse battery staple');
    const padded = Buffer.concat([clear, Buffer.alloc(32 - clear.length)]);
    const b1 = createHash('md5').update(SECRET).update(AUTH).digest();
    const c1 = Buffer.from(padded.subarray(0, 16).map((x, i) => x ^ b1[i]!));
    const b2 = createHash('md5').update(SECRET).update(c1).digest();
    const c2 = Buffer.from(padded.subarray(16, 32).map((x, i) => x ^ b2[i]!));
    expect(encryptUserPassword(clear, SECRET, AUTH)).toEqual(Buffer.concat([c1, c2]));
  });

  test.each([0, 1, 15, 17, 31, 33, 144, 250])('a %i-octet hidden field is not a valid ciphertext', (n) => {
    expect(decryptUserPassword(Buffer.alloc(n, 9), SECRET, AUTH)).toBeNull();
  });

  test('a wrong secret yields different octets, not an error', () => {
    const hidden = encryptUserPassword(Buffer.from('hunter2'), SECRET, AUTH);
    const revealed = decryptUserPassword(hidden, OTHER_SECRET, AUTH);
    expect(revealed).not.toBeNull();
    expect(revealed!.equals(Buffer.from('hunter2'))).toBe(false);
  });
});

/** Independent RFC 3579 §3.2 HMAC for hand-built packets in the table below. */
function withMessageAuthenticator(packet: Buffer, maValueOffset: number, secret: Buffer): Buffer {
  const copy = Buffer.from(packet);
  copy.fill(0, maValueOffset, maValueOffset + 16);
  createHmac('md5', secret).update(copy).digest().copy(copy, maValueOffset);
  return copy;
}

describe('verifyRequest: Message-Authenticator (RFC 3579 §3.2, RFC 5997 §3)', () => {
  const userName = [1, 7, ...Buffer.from('alice')];
  const maPlaceholder = [80, 18, ...new Array<number>(16).fill(0)];
  const signedFirst = withMessageAuthenticator(datagram({ attributeBytes: [...maPlaceholder, ...userName] }), 22, SECRET);
  const signedLast = withMessageAuthenticator(datagram({ attributeBytes: [...userName, ...maPlaceholder] }), 29, SECRET);
  const tampered = Buffer.from(signedFirst);
  tampered[tampered.length - 1] ^= 0x01; // last octet of User-Name
  const tamperedMa = Buffer.from(signedFirst);
  tamperedMa[22] ^= 0x80;
  const duplicated = withMessageAuthenticator(
    datagram({ attributeBytes: [...maPlaceholder, ...userName, 80, 18, ...signedFirst.subarray(22, 38)] }),
    22,
    SECRET,
  );
  const shortMa = datagram({ attributeBytes: [80, 17, ...new Array<number>(15).fill(1), ...userName] });
  const unsigned = datagram({ attributeBytes: userName });
  const statusSigned = withMessageAuthenticator(datagram({ code: Code.StatusServer, attributeBytes: maPlaceholder }), 22, SECRET);
  const statusUnsigned = datagram({ code: Code.StatusServer, attributeBytes: userName });
  const padded = Buffer.concat([signedFirst, Buffer.alloc(7, 0xab)]);
  const eapResponseIdentity = [79, 12, ...Buffer.from('0201000a01616c696365', 'hex')];
  const eapUnsigned = datagram({ attributeBytes: [...userName, ...eapResponseIdentity] });
  const eapSigned = withMessageAuthenticator(datagram({ attributeBytes: [...maPlaceholder, ...userName, ...eapResponseIdentity] }), 22, SECRET);

  const cases: Array<[string, string, Buffer, Buffer, boolean]> = [
    ['MA first, right secret', 'ok', signedFirst, SECRET, false],
    ['MA last, right secret', 'ok', signedLast, SECRET, true],
    ['MA present though not required is still checked', 'bad_message_authenticator', tampered, SECRET, false],
    ['attribute tampered after signing', 'bad_message_authenticator', tampered, SECRET, true],
    ['MA value tampered', 'bad_message_authenticator', tamperedMa, SECRET, true],
    ['wrong secret', 'bad_message_authenticator', signedFirst, OTHER_SECRET, true],
    ['two Message-Authenticators', 'bad_message_authenticator', duplicated, SECRET, false],
    ['15-octet Message-Authenticator', 'bad_message_authenticator', shortMa, SECRET, false],
    ['absent, not required', 'ok', unsigned, SECRET, false],
    ['absent, required by the client', 'missing_message_authenticator', unsigned, SECRET, true],
    ['Status-Server signed', 'ok', statusSigned, SECRET, false],
    ['Status-Server without MA, even when not required', 'missing_message_authenticator', statusUnsigned, SECRET, false],
    ['padding after Length is not part of the HMAC', 'ok', padded, SECRET, true],
    // RFC 3579 §3.2: EAP-Message without Message-Authenticator "SHOULD be silently discarded"
    ['EAP-Message without MA, even when not required', 'missing_message_authenticator', eapUnsigned, SECRET, false],
    ['EAP-Message with MA', 'ok', eapSigned, SECRET, false],
  ];
  test.each(cases)('%s -> %s', (_name, expected, buffer, secret, requireMessageAuthenticator) => {
    expect(verifyRequest(decodeOk(buffer), secret, { requireMessageAuthenticator })).toBe(expected);
  });

  test('the received datagram is not modified by verification', () => {
    const copy = Buffer.from(signedLast);
    verifyRequest(decodeOk(signedLast), SECRET, { requireMessageAuthenticator: true });
    expect(signedLast).toEqual(copy);
  });

  test('a hand-built Packet (values not views of raw) is verified by laying it out again', () => {
    const decoded = decodeOk(signedLast);
    const rebuilt: Packet = {
      ...decoded,
      attributes: decoded.attributes.map((a) => ({ type: a.type, value: Buffer.from(a.value) })),
    };
    expect(verifyRequest(rebuilt, SECRET, { requireMessageAuthenticator: true })).toBe('ok');
    expect(verifyRequest(rebuilt, OTHER_SECRET, { requireMessageAuthenticator: true })).toBe('bad_message_authenticator');
  });
});

describe('checkAccessRequestAttributes: attribute rules of an Access-Request (RFC 2865 §4.1, §5.44)', () => {
  const user = attr(Attr.UserName, 'alice');
  const password = attr(Attr.UserPassword, Buffer.alloc(16, 1)); // still hidden: the check never looks at values
  const chap = attr(Attr.ChapPassword, Buffer.alloc(17, 2));
  const state = attr(Attr.State, 'rotp-state');
  const proxyState = attr(Attr.ProxyState, 'hop');
  const eap = attr(Attr.EapMessage, Buffer.from('0201000a01616c696365', 'hex')); // EAP-Response/Identity "alice"
  const arap = attr(Attr.ArapPassword, Buffer.alloc(16, 4));
  const nasIp = (host: number) => attr(Attr.NasIpAddress, Buffer.from([10, 0, 0, host]));
  const request = (...attributes: RawAttribute[]): Packet => ({
    code: Code.AccessRequest,
    identifier: 1,
    authenticator: AUTH,
    attributes,
    raw: Buffer.alloc(0),
  });

  // [what, expected, attributes]; §5.44: "0-1  Zero or one instance of this attribute MAY be present in packet."
  const cases: Array<[string, string, RawAttribute[]]> = [
    ['PAP login', 'ok', [user, password]],
    ['PAP login answering a challenge', 'ok', [user, password, state]],
    ['CHAP login', 'ok', [user, chap]],
    ['no attributes', 'ok', []],
    ['Proxy-State three times (0+)', 'ok', [proxyState, user, proxyState, password, proxyState]],
    ['Reply-Message and VSAs may repeat', 'ok', [user, password, attr(26, 'a'), attr(26, 'b'), attr(18, 'x'), attr(18, 'y')]],
    ['two User-Names (alice, then bob)', 'repeated_attribute', [user, attr(Attr.UserName, 'bob'), password]],
    ['two identical User-Names', 'repeated_attribute', [user, user, password]],
    ['two User-Passwords', 'repeated_attribute', [user, password, attr(Attr.UserPassword, Buffer.alloc(16, 3))]],
    ['two CHAP-Passwords', 'repeated_attribute', [user, chap, chap]],
    ['two States', 'repeated_attribute', [user, password, state, state]],
    ['two NAS-IP-Addresses', 'repeated_attribute', [nasIp(1), user, password, nasIp(2)]],
    ['two NAS-Identifiers', 'repeated_attribute', [attr(Attr.NasIdentifier, 'vpn-1'), user, password, attr(Attr.NasIdentifier, 'vpn-2')]],
    ['two Calling-Station-Ids', 'repeated_attribute', [user, password, attr(Attr.CallingStationId, 'a'), attr(Attr.CallingStationId, 'b')]],
    ['two empty User-Names', 'repeated_attribute', [attr(Attr.UserName, ''), attr(Attr.UserName, ''), password]],
    // §4.1: "An Access-Request MUST NOT contain both a User-Password and a CHAP-Password."
    ['User-Password and CHAP-Password', 'pap_and_chap', [user, password, chap]],
    ['CHAP-Password first, then User-Password', 'pap_and_chap', [chap, user, password]],
    ['PAP and CHAP without a User-Name', 'pap_and_chap', [password, chap]],
    // RFC 3579 §3.3 [Note 1]: "An Access-Request that contains either a User-Password or CHAP-Password or
    // ARAP-Password or one or more EAP-Message attributes MUST NOT contain more than one type of those four attributes."
    ['EAP login', 'ok', [user, eap, eap]],
    ['User-Password and EAP-Message', 'mixed_credentials', [user, password, eap]],
    ['EAP-Message first, then User-Password', 'mixed_credentials', [eap, user, password]],
    ['User-Password and ARAP-Password', 'mixed_credentials', [user, password, arap]],
    ['CHAP-Password and EAP-Message', 'mixed_credentials', [user, chap, eap]],
    ['ARAP-Password and EAP-Message', 'mixed_credentials', [user, arap, eap]],
    ['PAP, CHAP and EAP: PAP and CHAP, as before', 'pap_and_chap', [user, password, chap, eap]],
  ];
  test.each(cases)('%s -> %s', (_name, expected, attributes) => {
    expect(checkAccessRequestAttributes(request(...attributes))).toBe(expected);
  });
});

describe('encodeRequest', () => {
  test('hides User-Password, puts MA first, and verifies', () => {
    const buffer = encodeRequest({
      code: Code.AccessRequest,
      identifier: 200,
      secret: SECRET,
      attributes: [attr(Attr.UserName, 'alice'), attr(Attr.UserPassword, 'hunter2')],
    });
    const packet = decodeOk(buffer);
    expect(packet.identifier).toBe(200);
    expect(packet.attributes.map((a) => a.type)).toEqual([Attr.MessageAuthenticator, Attr.UserName, Attr.UserPassword]);
    const hidden = packet.attributes[2]!.value;
    expect(hidden.length).toBe(16);
    expect(decryptUserPassword(hidden, SECRET, packet.authenticator)).toEqual(Buffer.from('hunter2'));
    expect(verifyRequest(packet, SECRET, { requireMessageAuthenticator: true })).toBe('ok');
  });

  test('random authenticators differ between requests; an explicit one is used as given', () => {
    const make = (authenticator?: Buffer) =>
      decodeOk(encodeRequest({ code: Code.AccessRequest, identifier: 1, secret: SECRET, attributes: [], authenticator })).authenticator;
    expect(make().equals(make())).toBe(false);
    expect(make(AUTH)).toEqual(AUTH);
  });

  test('messageAuthenticator: false leaves it out', () => {
    const packet = decodeOk(
      encodeRequest({ code: Code.AccessRequest, identifier: 1, secret: SECRET, attributes: [attr(1, 'a')], messageAuthenticator: false }),
    );
    expect(packet.attributes.map((a) => a.type)).toEqual([1]);
    expect(verifyRequest(packet, SECRET, { requireMessageAuthenticator: true })).toBe('missing_message_authenticator');
  });

  test('Accounting-Request gets the RFC 2866 §3 authenticator', () => {
    const buffer = encodeRequest({ code: Code.AccountingRequest, identifier: 3, secret: SECRET, attributes: [attr(44, 'session-1')] });
    const zeroed = Buffer.from(buffer);
    zeroed.fill(0, 4, 20);
    const expected = createHash('md5').update(zeroed).update(SECRET).digest();
    expect(buffer.subarray(4, 20)).toEqual(expected);
  });

  // [what, attributes, error]: a PacketTooLargeError (a RangeError) only when the packet is over 4096 octets
  test.each([
    ['a 254-octet value', [attr(1, Buffer.alloc(254, 0x61))], RangeError],
    ['a 129-octet password', [attr(Attr.UserPassword, Buffer.alloc(129, 0x61))], RangeError],
    ['attribute type 0', [attr(0, 'x')], RangeError],
    ['attribute type 256', [attr(256, 'x')], RangeError],
    ['a packet over 4096 octets', new Array(17).fill(attr(26, Buffer.alloc(253, 1))), PacketTooLargeError],
  ])('refuses %s', (_name, attributes, error) => {
    const encode = () => encodeRequest({ code: Code.AccessRequest, identifier: 1, secret: SECRET, attributes });
    expect(encode).toThrow(error);
    if (error !== PacketTooLargeError) expect(encode).not.toThrow(PacketTooLargeError);
  });
});

describe('encodeResponse', () => {
  const request = decodeOk(
    encodeRequest({ code: Code.AccessRequest, identifier: 99, secret: SECRET, attributes: [attr(1, 'alice'), attr(2, 'pw')] }),
  );
  const reply = (code: number, attributes: RawAttribute[] = [], requestAuthenticator = request.authenticator) =>
    encodeResponse({ code, identifier: request.identifier, requestAuthenticator, secret: SECRET, attributes });

  test.each([
    ['Access-Accept', Code.AccessAccept, [attr(18, 'welcome'), attr(25, Buffer.from([1, 2, 3]))]],
    ['Access-Reject', Code.AccessReject, []],
    ['Access-Challenge', Code.AccessChallenge, [attr(18, 'enter OTP'), attr(24, Buffer.from('state-1')), attr(33, Buffer.from([7]))]],
  ])('%s carries MA first, then the attributes in order, and verifies', (_name, code, attributes) => {
    const buffer = reply(code, attributes);
    expect(buffer[0]).toBe(code);
    expect(buffer[1]).toBe(99);
    expect(buffer.readUInt16BE(2)).toBe(buffer.length);
    expect([buffer[20], buffer[21]]).toEqual([Attr.MessageAuthenticator, 18]);
    const rest: RawAttribute[] = [];
    for (let offset = 38; offset < buffer.length; offset += buffer[offset + 1]!) {
      rest.push(attr(buffer[offset]!, buffer.subarray(offset + 2, offset + buffer[offset + 1]!)));
    }
    expect(rest).toEqual(attributes);
    expect(verifyResponse(buffer, request.authenticator, SECRET)).toBe(true);
  });

  test('MA and Response Authenticator match an independent computation', () => {
    const buffer = reply(Code.AccessAccept, [attr(18, 'hi')]);
    const forMa = Buffer.from(buffer);
    request.authenticator.copy(forMa, 4);
    forMa.fill(0, 22, 38);
    expect(buffer.subarray(22, 38)).toEqual(createHmac('md5', SECRET).update(forMa).digest());
    const forAuth = Buffer.from(buffer);
    request.authenticator.copy(forAuth, 4);
    expect(buffer.subarray(4, 20)).toEqual(createHash('md5').update(forAuth).update(SECRET).digest());
  });

  test('refuses a caller-supplied Message-Authenticator and oversized packets', () => {
    expect(() => reply(Code.AccessAccept, [attr(80, Buffer.alloc(16))])).toThrow(RangeError);
    expect(() => reply(Code.AccessAccept, [attr(80, Buffer.alloc(16))])).not.toThrow(PacketTooLargeError);
    expect(() => reply(Code.AccessAccept, new Array(17).fill(attr(18, Buffer.alloc(253, 0x61))))).toThrow(PacketTooLargeError);
    expect(() => reply(Code.AccessAccept, [], Buffer.alloc(15))).toThrow(RangeError);
  });

  test('the largest reply that fits is 4096 octets; one more octet is PacketTooLargeError', () => {
    // 20 header + 18 MA + 15 x 255 + one attribute of 233 octets = 4096
    const fill = new Array<RawAttribute>(15).fill(attr(33, Buffer.alloc(253, 1)));
    expect(reply(Code.AccessAccept, [...fill, attr(18, Buffer.alloc(231, 0x61))]).length).toBe(MAX_PACKET_LENGTH);
    expect(() => reply(Code.AccessAccept, [...fill, attr(18, Buffer.alloc(232, 0x61))])).toThrow(
      new PacketTooLargeError(MAX_PACKET_LENGTH + 1),
    );
  });
});

describe('verifyResponse', () => {
  const request = decodeOk(encodeRequest({ code: Code.AccessRequest, identifier: 5, secret: SECRET, attributes: [attr(1, 'bob')] }));
  const good = encodeResponse({
    code: Code.AccessAccept,
    identifier: 5,
    requestAuthenticator: request.authenticator,
    secret: SECRET,
    attributes: [attr(18, 'ok')],
  });
  const flipped = (offset: number) => {
    const copy = Buffer.from(good);
    copy[offset] ^= 1;
    return copy;
  };
  /** Wrong MA but a Response Authenticator recomputed over it: only the MA check can catch it. */
  const badMaOnly = (() => {
    const copy = flipped(25);
    request.authenticator.copy(copy, 4);
    createHash('md5').update(copy).update(SECRET).digest().copy(copy, 4);
    return copy;
  })();

  const cases: Array<[string, boolean, Buffer, Buffer, Buffer]> = [
    ['genuine', true, good, request.authenticator, SECRET],
    ['wrong secret', false, good, request.authenticator, OTHER_SECRET],
    ['answer to another request', false, good, AUTH, SECRET],
    ['attribute tampered', false, flipped(good.length - 1), request.authenticator, SECRET],
    ['Response Authenticator tampered', false, flipped(4), request.authenticator, SECRET],
    ['bad MA under a valid Response Authenticator', false, badMaOnly, request.authenticator, SECRET],
    ['truncated', false, good.subarray(0, 19), request.authenticator, SECRET],
    ['15-octet request authenticator', false, good, request.authenticator.subarray(1), SECRET],
  ];
  test.each(cases)('%s -> %s', (_name, expected, response, requestAuthenticator, secret) => {
    expect(verifyResponse(response, requestAuthenticator, secret)).toBe(expected);
  });
});

/*
 * Cross-checks against the `radius` npm package (retailnext/node-radius 1.1.4). Its dictionary is
 * module-global and must be added before first use (see shared notes §1); its secrets are strings.
 */
describe('interoperability with the radius npm package', () => {
  const secretText = 'interop-secret-123';
  const secret = Buffer.from(secretText);

  beforeAll(() => {
    radius.add_dictionary(require.resolve('radius/dictionaries/dictionary.rfc2865').replace(/dictionary\.rfc2865$/, ''));
  });

  test.each(['', 'x', 'hunter2', 'exactly-16-chars', 'p'.repeat(17), 'ünïcødé-пароль-密码', 'z'.repeat(128)])(
    'it decodes our Access-Request and reveals the password %p',
    (password) => {
      const buffer = encodeRequest({
        code: Code.AccessRequest,
        identifier: 17,
        secret,
        attributes: [attr(Attr.UserName, 'alice'), attr(Attr.UserPassword, password), attr(Attr.NasIdentifier, 'nas-1')],
      });
      const decoded = radius.decode({ packet: buffer, secret: secretText }); // throws on a bad MA
      expect(decoded.code).toBe('Access-Request');
      expect(decoded.identifier).toBe(17);
      expect(decoded.attributes['User-Name']).toBe('alice');
      expect(decoded.attributes['NAS-Identifier']).toBe('nas-1');
      expect(decoded.attributes['User-Password']).toBe(password);
      expect(decoded.attributes['Message-Authenticator']).toHaveLength(16);
    },
  );

  test('it rejects our Access-Request under the wrong secret (MA mismatch)', () => {
    const buffer = encodeRequest({ code: Code.AccessRequest, identifier: 1, secret, attributes: [attr(1, 'alice')] });
    expect(() => radius.decode({ packet: buffer, secret: 'wrong' })).toThrow(/Message-Authenticator/);
  });

  test.each(['hunter2', 'a-much-longer-password-spanning-several-blocks-of-16'])(
    'we decode its Access-Request and reveal the password %p',
    (password) => {
      const buffer = radius.encode({
        code: 'Access-Request',
        secret: secretText,
        identifier: 33,
        attributes: [['User-Name', 'bob'], ['User-Password', password], ['NAS-IP-Address', '192.0.2.10']],
        add_message_authenticator: true,
      });
      const packet = decodeOk(buffer);
      expect(packet.identifier).toBe(33);
      expect(verifyRequest(packet, secret, { requireMessageAuthenticator: true })).toBe('ok');
      expect(verifyRequest(packet, Buffer.from('wrong'), { requireMessageAuthenticator: true })).toBe('bad_message_authenticator');
      const hidden = packet.attributes.find((a) => a.type === Attr.UserPassword)!.value;
      expect(decryptUserPassword(hidden, secret, packet.authenticator)?.toString()).toBe(password);
      expect(packet.attributes.find((a) => a.type === Attr.NasIpAddress)!.value).toEqual(Buffer.from([192, 0, 2, 10]));
    },
  );

  test.each([
    ['Access-Accept', Code.AccessAccept],
    ['Access-Reject', Code.AccessReject],
    ['Access-Challenge', Code.AccessChallenge],
  ])('its verify_response accepts our %s with MA first', (_name, code) => {
    const request = radius.encode({
      code: 'Access-Request',
      secret: secretText,
      identifier: 8,
      attributes: [['User-Name', 'carol'], ['User-Password', 'pw']],
      add_message_authenticator: true, // so that verify_response also checks our response MA
    });
    const response = encodeResponse({
      code,
      identifier: 8,
      requestAuthenticator: request.subarray(4, 20),
      secret,
      attributes: [attr(Attr.ReplyMessage, 'hello'), attr(Attr.State, Buffer.from('st'))],
    });
    expect(radius.verify_response({ request, response, secret: secretText })).toBe(true);
    expect(radius.verify_response({ request, response, secret: 'wrong' })).toBe(false);
    // A wrong MA under a recomputed Response Authenticator: proves it really checked our MA.
    const badMa = Buffer.from(response);
    badMa[30] ^= 0xff;
    request.copy(badMa, 4, 4, 20);
    createHash('md5').update(badMa).update(secret).digest().copy(badMa, 4);
    expect(radius.verify_response({ request, response: badMa, secret: secretText })).toBe(false);
  });

  test('we verify its encode_response output', () => {
    const request = radius.encode({
      code: 'Access-Request',
      secret: secretText,
      identifier: 77,
      attributes: [['User-Name', 'dave']],
      add_message_authenticator: true,
    });
    const response = radius.encode_response({
      packet: radius.decode({ packet: request, secret: secretText }),
      code: 'Access-Challenge',
      secret: secretText,
      attributes: [['Reply-Message', 'OTP please'], ['State', Buffer.from('abc')]],
    });
    expect(verifyResponse(response, request.subarray(4, 20), secret)).toBe(true);
    expect(verifyResponse(response, request.subarray(4, 20), Buffer.from('wrong'))).toBe(false);
  });
});
