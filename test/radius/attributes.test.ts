import { join } from 'node:path';
import {
  AttributeError,
  type AttributeValue,
  decodeAttribute,
  encodeAttribute,
  getAll,
  getFirst,
  parseAttributeAssignment,
} from '../../src/radius/attributes';
import { loadDefaultDictionary } from '../../src/radius/dictionary';
import type { RawAttribute } from '../../src/radius/types';

const dict = loadDefaultDictionary([join(__dirname, 'fixtures', 'dictionaries', 'dictionary.types')]);

const hex = (attrs: RawAttribute[]) => attrs.map((a) => `${a.type}:${a.value.toString('hex')}`);
const raw = (type: number, hexValue: string): RawAttribute => ({ type, value: Buffer.from(hexValue, 'hex') });
const utf8Hex = (text: string) => Buffer.from(text, 'utf8').toString('hex');

describe('standard attributes: encode -> wire -> decode', () => {
  const cases: Array<[string, AttributeValue, string, AttributeValue, number?]> = [
    // name, value given, wire value (hex), value decoded, tag decoded
    ['User-Name', 'alice', utf8Hex('alice'), 'alice'],
    ['Reply-Message', 'Grüße, 世界', utf8Hex('Grüße, 世界'), 'Grüße, 世界'],
    ['User-Name', Buffer.from('raw-bytes'), utf8Hex('raw-bytes'), 'raw-bytes'],
    ['NAS-Port', 5, '00000005', 5],
    ['NAS-Port', '0x10', '00000010', 16],
    ['NAS-Port', '  42 ', '0000002a', 42],
    ['NAS-Port', 7n, '00000007', 7],
    ['Session-Timeout', 4294967295, 'ffffffff', 4294967295],
    ['Service-Type', 'Authenticate-Only', '00000008', 8],
    ['Service-Type', 'authenticate-only', '00000008', 8],
    ['Event-Timestamp', 1700000000, '6553f100', 1700000000],
    ['NAS-IP-Address', '192.0.2.1', 'c0000201', '192.0.2.1'],
    ['NAS-IP-Address', '0.0.0.0', '00000000', '0.0.0.0'],
    ['NAS-IPv6-Address', '2001:db8::1', '20010db8000000000000000000000001', '2001:db8::1'],
    ['NAS-IPv6-Address', '2001:DB8:0:0:1:0:0:1', '20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['NAS-IPv6-Address', '::', '00000000000000000000000000000000', '::'],
    ['NAS-IPv6-Address', '::ffff:192.0.2.1', '00000000000000000000ffffc0000201', '::ffff:c000:201'],
    ['NAS-IPv6-Address', 'fe80:0:0:1:0:0:0:1', 'fe800000000000010000000000000001', 'fe80:0:0:1::1'],
    ['Framed-IPv6-Prefix', '2001:db8::/32', '002020010db8', '2001:db8::/32'],
    ['Framed-IPv6-Prefix', '2001:db8:0:1::/64', '004020010db800000001', '2001:db8:0:1::/64'],
    ['Framed-IPv6-Prefix', '2001:db8::1/128', '008020010db8000000000000000000000001', '2001:db8::1/128'],
    ['Framed-IPv6-Prefix', '::/0', '0000', '::/0'],
    ['Delegated-IPv6-Prefix', '2001:db8:8000::/33', '002120010db880', '2001:db8:8000::/33'],
    ['Framed-Interface-Id', '0011:2233:4455:6677', '0011223344556677', '0011:2233:4455:6677'],
    ['State', Buffer.from([0, 1, 2, 255]), '000102ff', Buffer.from([0, 1, 2, 255])],
    ['State', '0x0A0b', '0a0b', Buffer.from([10, 11])],
    ['Class', 'group-admins', utf8Hex('group-admins'), Buffer.from('group-admins')],
    ['T-Byte', 255, 'ff', 255],
    ['T-Byte', 'Small', '03', 3],
    ['T-Short', 65535, 'ffff', 65535],
    ['T-Integer64', 2n ** 64n - 1n, 'ffffffffffffffff', 2n ** 64n - 1n],
    ['T-Integer64', '12345', '0000000000003039', 12345n],
    ['T-Signed', -1, 'ffffffff', -1],
    ['T-Signed', -2147483648, '80000000', -2147483648],
    ['T-Ether', 'AA-bb-cc-dd-ee-0f', 'aabbccddee0f', 'aa:bb:cc:dd:ee:0f'],
    ['T-Combo-IP', '10.0.0.1', '0a000001', '10.0.0.1'],
    ['T-Combo-IP', '::1', '00000000000000000000000000000001', '::1'],
    // RFC 2868 §3.1: the tag is the first octet of a tagged integer
    ['Tunnel-Type:1', 'VLAN', '0100000d', 13, 1],
    ['Tunnel-Type', 'VLAN', '0000000d', 13, 0],
    ['Tunnel-Medium-Type:31', 'IEEE-802', '1f000006', 6, 31],
    // RFC 2868 §3: a tagged string has a tag octet only when tagged or when its text could be mistaken for one
    ['Tunnel-Private-Group-Id:1', '100', '01313030', '100', 1],
    ['Tunnel-Private-Group-Id', '100', '313030', '100'],
    ['Tunnel-Private-Group-Id', '\u0005x', '000578', '\u0005x', 0],
  ];

  // Pad the optional tag column: jest would pass its `done` callback in a missing last argument.
  const rows = cases.map(([name, value, wire, decoded, tag]) => [name, value, wire, decoded, tag ?? null] as const);
  test.each(rows)('%s = %p -> %s', (name, value, wire, decoded, tag) => {
    const encoded = encodeAttribute(dict, name, value);
    const code = dict.byName(name.replace(/:\d+$/, ''))!.code;
    expect(hex(encoded)).toEqual([`${code}:${wire}`]);
    const expected = { name: name.replace(/:\d+$/, ''), vendorId: 0, value: decoded, ...(tag === null ? {} : { tag }) };
    expect(decodeAttribute(dict, encoded[0]!)).toEqual([expected]);
  });

  test('User-Password is encoded clear (the codec hides it) and decoded still hidden, as octets', () => {
    expect(hex(encodeAttribute(dict, 'User-Password', 'hunter2'))).toEqual([`2:${utf8Hex('hunter2')}`]);
    const hidden = raw(2, '00112233445566778899aabbccddeeff');
    expect(decodeAttribute(dict, hidden)).toEqual([{ name: 'User-Password', vendorId: 0, value: hidden.value }]);
  });

  test('Attr-N and Vendor-V-Attr-N names encode raw octets', () => {
    expect(hex(encodeAttribute(dict, 'Attr-250', '0x0102'))).toEqual(['250:0102']);
    expect(hex(encodeAttribute(dict, 'Vendor-424242-Attr-7', Buffer.from('A')))).toEqual(['26:00067932070341']);
  });
});

describe('vendor-specific attributes (RFC 2865 §5.26) in every vendor layout', () => {
  const cases: Array<[string, AttributeValue, string, number, AttributeValue]> = [
    // name, value, type-26 value (hex): vendor id, vendor type, vendor length, data
    ['Cisco-AVPair', 'shell:priv-lvl=15', `00000009 01 13 ${utf8Hex('shell:priv-lvl=15')}`, 9, 'shell:priv-lvl=15'],
    ['Fortinet-Group-Name', 'admins', `00003044 01 08 ${utf8Hex('admins')}`, 12356, 'admins'],
    ['PaloAlto-Admin-Role', 'superuser', `00006375 01 0b ${utf8Hex('superuser')}`, 25461, 'superuser'],
    ['Juniper-Local-User-Name', 'ops', `00000a4c 01 05 ${utf8Hex('ops')}`, 2636, 'ops'],
    ['MS-Primary-DNS-Server', '192.0.2.53', '00000137 1c 06 c0000235', 311, '192.0.2.53'],
    ['MS-MPPE-Encryption-Policy', 'Encryption-Required', '00000137 07 06 00000002', 311, 2],
    // format=2,2: two-octet type and length, the length counting the 4-octet header
    ['Wide-Text', 'abc', `0000fa00 03e8 0007 ${utf8Hex('abc')}`, 64000, 'abc'],
    ['Wide-Number', 258, '0000fa00 0002 0008 00000102', 64000, 258],
    // format=4,0: four-octet type, no length; the sub-attribute runs to the end
    ['NoLength-Text', 'abc', `0000fa01 00011170 ${utf8Hex('abc')}`, 64001, 'abc'],
    // format=1,1,c: a continuation octet after the length
    ['Continued-Blob', Buffer.from('abc'), `0000fa02 01 06 00 ${utf8Hex('abc')}`, 64002, Buffer.from('abc')],
  ];

  test.each(cases)('%s = %p', (name, value, wire, vendorId, decoded) => {
    const encoded = encodeAttribute(dict, name, value);
    expect(hex(encoded)).toEqual([`26:${wire.replace(/ /g, '')}`]);
    expect(decodeAttribute(dict, encoded[0]!)).toEqual([{ name, vendorId, value: decoded }]);
  });

  test('one VSA holding several sub-attributes decodes to all of them', () => {
    const vsa = raw(26, `00000009 01 05 616263 01 04 7879 c3 06 00000001`.replace(/ /g, ''));
    expect(decodeAttribute(dict, vsa)).toEqual([
      { name: 'Cisco-AVPair', vendorId: 9, value: 'abc' },
      { name: 'Cisco-AVPair', vendorId: 9, value: 'xy' },
      { name: 'Cisco-Disconnect-Cause', vendorId: 9, value: 1 },
    ]);
  });
});

describe('long values', () => {
  test.each([
    ['Reply-Message', 'r'.repeat(600), [253, 253, 94]],
    ['EAP-Message', Buffer.alloc(1000, 7), [253, 253, 253, 241]],
    ['T-Concat-Text', 't'.repeat(300), [253, 47]],
  ])('%s is split over consecutive attributes that concatenate back', (name, value, sizes) => {
    const encoded = encodeAttribute(dict, name, value);
    expect(encoded.map((a) => a.value.length)).toEqual(sizes);
    const code = dict.byName(name)!.code;
    expect(encoded.every((a) => a.type === code)).toBe(true);
    const joined = Buffer.concat(getAll(encoded, code));
    expect(joined).toEqual(Buffer.isBuffer(value) ? value : Buffer.from(value));
  });

  test('text is cut on UTF-8 character boundaries', () => {
    const text = 'é'.repeat(200); // 400 octets of 2-octet characters
    const encoded = encodeAttribute(dict, 'Reply-Message', text);
    expect(encoded.map((a) => a.value.length)).toEqual([252, 148]);
    expect(encoded.map((a) => a.value.toString('utf8')).join('')).toBe(text);
    expect(encoded.every((a) => !a.value.toString('utf8').includes('\ufffd'))).toBe(true);
  });

  test('continuation-format VSAs set the "more" flag on all but the last piece', () => {
    const encoded = encodeAttribute(dict, 'Continued-Blob', Buffer.alloc(600, 1));
    // 253 - 4 (vendor id) - 3 (type, length, continuation) = 246 octets of data per VSA
    expect(encoded.map((a) => [a.value.length - 7, a.value[6]])).toEqual([[246, 0x80], [246, 0x80], [108, 0x00]]);
  });
});

describe('encodeAttribute refuses bad values with AttributeError naming the attribute', () => {
  const cases: Array<[string, AttributeValue, RegExp]> = [
    ['No-Such-Attribute', 'x', /unknown attribute "No-Such-Attribute"/],
    ['NAS-Port', -1, /NAS-Port: -1 is outside 0\.\.4294967295/],
    ['NAS-Port', 2 ** 32, /NAS-Port: 4294967296 is outside/],
    ['NAS-Port', 1.5, /NAS-Port: 1\.5 is not an integer/],
    ['NAS-Port', 'Bogus-Name', /NAS-Port: unknown value "Bogus-Name"/],
    ['Service-Type', Buffer.alloc(3), /Service-Type: integer needs 4 octets, got 3/],
    ['Event-Timestamp', 'yesterday', /Event-Timestamp: "yesterday" is not an integer/],
    ['NAS-IP-Address', '256.0.0.1', /NAS-IP-Address: "256\.0\.0\.1" is not a dotted-quad/],
    ['NAS-IP-Address', '10.0.0', /not a dotted-quad/],
    ['NAS-IP-Address', 42, /NAS-IP-Address: expected text for ipaddr/],
    ['NAS-IPv6-Address', 'fe80::1%eth0', /NAS-IPv6-Address: .* is not an IPv6 address/],
    ['NAS-IPv6-Address', '1:2:3', /is not an IPv6 address/],
    ['Framed-IPv6-Prefix', '2001:db8::1/32', /has bits set beyond \/32/],
    ['Framed-IPv6-Prefix', '2001:db8::/129', /is not an IPv6 prefix/],
    ['Framed-IPv6-Prefix', '2001:db8::', /is not an IPv6 prefix/],
    ['Framed-Interface-Id', '1:2:3', /is not a valid ifid/],
    ['User-Name', 'x'.repeat(254), /User-Name: value is 254 octets; at most 253 fit .* cannot be split/],
    ['User-Name', '', /User-Name: empty value/],
    ['User-Name', 5, /User-Name: expected text, got number/],
    ['State', '0xabc', /State: "0xabc" is not valid hex/],
    ['State', 7, /State: expected octets/],
    ['Tunnel-Type:32', 'VLAN', /Tunnel-Type: tag 32 is not 0\.\.31/],
    ['User-Name:1', 'alice', /User-Name: does not take a tag/],
    ['Tunnel-Type', 0x1000000, /Tunnel-Type: 16777216 is outside 0\.\.16777215/],
    ['Tunnel-Password', 'secret', /Tunnel-Password: encrypt=2 .* not supported/],
    ['MS-MPPE-Send-Key', Buffer.alloc(16), /MS-MPPE-Send-Key: encrypt=2/],
    ['T-Internal', 'x', /T-Internal: number 3000 is not a wire attribute/],
    ['T-Signed', 2 ** 31, /T-Signed: 2147483648 is outside the signed 32-bit range/],
    ['T-Integer64', -1, /T-Integer64: -1 is outside the unsigned 64-bit range/],
    ['T-Integer64', 'lots', /T-Integer64: "lots" is not an unsigned 64-bit integer/],
    ['T-Byte', 256, /T-Byte: 256 is outside 0\.\.255/],
    ['T-Ether', 'aa:bb:cc', /T-Ether: "aa:bb:cc" is not a valid ether/],
    ['Cisco-AVPair', 'x'.repeat(248), /Cisco-AVPair: value is 248 octets; at most 247 fit/],
  ];
  test.each(cases)('%s = %p', (name, value, message) => {
    let thrown: unknown;
    try {
      encodeAttribute(dict, name, value);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AttributeError);
    expect((thrown as Error).message).toMatch(message);
  });
});

describe('decodeAttribute never throws: malformed values come back raw', () => {
  const cases: Array<[string, RawAttribute, Array<{ name: string; vendorId: number; value: AttributeValue }>]> = [
    ['2-octet NAS-IP-Address', raw(4, '0102'), [{ name: 'Attr-4', vendorId: 0, value: Buffer.from('0102', 'hex') }]],
    ['5-octet NAS-Port', raw(5, '0000000001'), [{ name: 'Attr-5', vendorId: 0, value: Buffer.from('0000000001', 'hex') }]],
    ['empty Session-Timeout', raw(27, ''), [{ name: 'Attr-27', vendorId: 0, value: Buffer.alloc(0) }]],
    ['15-octet NAS-IPv6-Address', raw(95, '00'.repeat(15)), [{ name: 'Attr-95', vendorId: 0, value: Buffer.alloc(15) }]],
    ['prefix length 129', raw(97, '0081' + '00'.repeat(16)), [{ name: 'Attr-97', vendorId: 0, value: Buffer.from('0081' + '00'.repeat(16), 'hex') }]],
    ['prefix shorter than its length says', raw(97, '00400102'), [{ name: 'Attr-97', vendorId: 0, value: Buffer.from('00400102', 'hex') }]],
    ['1-octet prefix', raw(97, '00'), [{ name: 'Attr-97', vendorId: 0, value: Buffer.from('00', 'hex') }]],
    ['unknown attribute', raw(200, 'abcd'), [{ name: 'Attr-200', vendorId: 0, value: Buffer.from('abcd', 'hex') }]],
    ['VSA too short for a vendor id', raw(26, '000009'), [{ name: 'Vendor-Specific', vendorId: 0, value: Buffer.from('000009', 'hex') }]],
    ['VSA with only a vendor id', raw(26, '00000009'), [{ name: 'Vendor-Specific', vendorId: 0, value: Buffer.from('00000009', 'hex') }]],
    ['VSA sub-attribute length 1', raw(26, '000000090101'), [{ name: 'Vendor-Specific', vendorId: 0, value: Buffer.from('000000090101', 'hex') }]],
    ['VSA sub-attribute overrun', raw(26, '00000009010961'), [{ name: 'Vendor-Specific', vendorId: 0, value: Buffer.from('00000009010961', 'hex') }]],
    ['VSA with a truncated second header', raw(26, '0000000901036101'), [{ name: 'Vendor-Specific', vendorId: 0, value: Buffer.from('0000000901036101', 'hex') }]],
    ['empty Cisco-AVPair', raw(26, '000000090102'), [{ name: 'Cisco-AVPair', vendorId: 9, value: '' }]],
    ['unknown vendor', raw(26, '00067932070341'), [{ name: 'Vendor-424242-Attr-7', vendorId: 424242, value: Buffer.from('A') }]],
    ['unknown Cisco attribute', raw(26, '00000009fe0341'), [{ name: 'Vendor-9-Attr-254', vendorId: 9, value: Buffer.from('A') }]],
    ['1-octet Cisco integer', raw(26, '00000009c30301'), [{ name: 'Vendor-9-Attr-195', vendorId: 9, value: Buffer.from([1]) }]],
  ];
  test.each(cases)('%s', (_name, attribute, expected) => {
    expect(decodeAttribute(dict, attribute)).toEqual(expected);
  });
});

describe('parseAttributeAssignment', () => {
  const cases: Array<[string, string[]]> = [
    ['Reply-Message = "Hello, world"', [`18:${utf8Hex('Hello, world')}`]],
    ['Reply-Message = "say \\"hi\\"\\n"', [`18:${utf8Hex('say "hi"\n')}`]],
    ["Reply-Message := 'single quoted = fine'", [`18:${utf8Hex('single quoted = fine')}`]],
    ['Session-Timeout = 3600', ['27:00000e10']],
    ['Service-Type := Authenticate-Only', ['6:00000008']],
    ['Tunnel-Type:1 = VLAN', ['64:0100000d']],
    ['Tunnel-Private-Group-Id:1 = "100"', [`81:01${utf8Hex('100')}`]],
    ['Class = 0x0a0b', ['25:0a0b']],
    ['Class = "0x0a0b"', [`25:${utf8Hex('0x0a0b')}`]],
    ['Cisco-AVPair += "shell:priv-lvl=15"', [`26:000000090113${utf8Hex('shell:priv-lvl=15')}`]],
    ['Framed-IP-Address = 10.0.0.1', ['8:0a000001']],
    ['  Filter-Id=admins  ', [`11:${utf8Hex('admins')}`]],
    ['Attr-250 = 0x01', ['250:01']],
    ['Framed-IPv6-Prefix = 2001:db8::/32', ['97:002020010db8']],
  ];
  test.each(cases)('%s', (text, expected) => {
    expect(hex(parseAttributeAssignment(dict, text))).toEqual(expected);
  });

  test.each([
    ['', /expected "Name = value"/],
    ['Reply-Message', /expected "Name = value"/],
    ['= value', /expected "Name = value"/],
    ['Reply-Message =', /Reply-Message: missing value/],
    ['Reply-Message = "unterminated', /unterminated quote/],
    ['Reply-Message = "a" b', /text after closing quote/],
    ['Reply-Message = two words', /contains spaces; quote it/],
    ['Reply-Message = "bad \\q escape"', /bad escape/],
    ['Nope = 1', /unknown attribute "Nope"/],
    ['Session-Timeout = abc', /Session-Timeout: unknown value "abc"/],
  ])('%p is refused', (text, message) => {
    expect(() => parseAttributeAssignment(dict, text)).toThrow(AttributeError);
    expect(() => parseAttributeAssignment(dict, text)).toThrow(message);
  });
});

describe('getFirst / getAll', () => {
  const attrs = [raw(1, '61'), raw(33, '01'), raw(1, '62'), raw(33, '02')];
  test.each([
    [1, '61', ['61', '62']],
    [33, '01', ['01', '02']],
    [18, undefined, []],
  ])('type %i', (type, first, all) => {
    expect(getFirst(attrs, type)?.toString('hex')).toBe(first);
    expect(getAll(attrs, type).map((b) => b.toString('hex'))).toEqual(all);
  });
});
