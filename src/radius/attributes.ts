/**
 * Typed attribute values <-> raw wire attributes, through a `Dictionary`.
 *
 * Encoding is for our own replies and for admin-written config ("Name = value"); bad input
 * throws `AttributeError` naming the attribute, so config mistakes surface at start-up.
 * Decoding is for untrusted packets and never throws: a value that does not fit its declared
 * type comes back as raw octets under an "Attr-N" name, as FreeRADIUS does.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { AttributeDef, AttributeType, Dictionary, VendorDef } from './dictionary';
import { Attr, type RawAttribute } from './types';

export type AttributeValue = string | number | bigint | Buffer;

export interface DecodedAttribute {
  readonly name: string;
  readonly vendorId: number;
  readonly value: AttributeValue;
  /** RFC 2868 §3 Tag, for has_tag attributes that carried one. */
  readonly tag?: number;
}

export class AttributeError extends Error {
  override readonly name = 'AttributeError';
}

const MAX_VALUE = 253; // RFC 2865 §5: Length octet counts type and length
const VSA_HEADER = 4; // RFC 2865 §5.26: Vendor-Id
const MAX_TAG = 0x1f; // RFC 2868 §3: tags 0x01-0x1F name a tunnel; larger is string data

/**
 * Standard attributes that may be split over several consecutive instances even without a
 * dictionary "concat" flag: RFC 2865 §5.18 ("Multiple Reply-Message's MAY be included ... displayed
 * in the same order") and RFC 3579 §3.1 (EAP-Message fragments are concatenated).
 */
const SPLITTABLE_STANDARD: ReadonlySet<number> = new Set([Attr.ReplyMessage, Attr.EapMessage]);

/** Fixed wire sizes; a Buffer given for these types must have exactly this length. */
const FIXED_SIZE: Partial<Record<AttributeType, number>> = {
  integer: 4, signed: 4, date: 4, ipaddr: 4, byte: 1, short: 2, integer64: 8, ipv6addr: 16, ifid: 8, ether: 6,
};

// ---------------------------------------------------------------------------------------------
// Encoding

interface Target {
  readonly def: AttributeDef;
  readonly tag: number | undefined;
}

function synthetic(name: string, code: number, vendorId: number): AttributeDef {
  return { name, code, vendorId, type: 'octets', values: new Map(), valueNames: new Map() };
}

/** Dictionary name, optionally with ":tag" (FreeRADIUS syntax), or "Attr-N" / "Vendor-V-Attr-N" for raw octets. */
function resolve(dict: Dictionary, fullName: string): Target {
  let name = fullName;
  let tag: number | undefined;
  const colon = fullName.lastIndexOf(':');
  if (colon > 0 && /^[0-9]{1,2}$/.test(fullName.slice(colon + 1))) {
    name = fullName.slice(0, colon);
    tag = Number(fullName.slice(colon + 1));
  }
  let def = dict.byName(name);
  if (!def) {
    const raw = /^Attr-([0-9]{1,3})$/i.exec(name);
    const vendorRaw = /^Vendor-([0-9]{1,10})-Attr-([0-9]{1,10})$/i.exec(name);
    if (raw && Number(raw[1]) >= 1 && Number(raw[1]) <= 255) def = synthetic(name, Number(raw[1]), 0);
    else if (vendorRaw) def = synthetic(name, Number(vendorRaw[2]), Number(vendorRaw[1]));
    else throw new AttributeError(`unknown attribute "${fullName}"`);
  }
  if (tag !== undefined) {
    if (!def.hasTag) throw new AttributeError(`${def.name}: does not take a tag (":${tag}")`);
    if (tag > MAX_TAG) throw new AttributeError(`${def.name}: tag ${tag} is not 0..31 (RFC 2868 §3)`);
  }
  return { def, tag };
}

function fail(def: AttributeDef, problem: string): never {
  throw new AttributeError(`${def.name}: ${problem}`);
}

/**
 * Encodes one typed value. The result is usually one attribute; long values of concat-able
 * attributes become several (each at most 253 octets of value), and VSAs are wrapped in type 26.
 *
 * User-Password is returned CLEAR: hiding it needs the request authenticator, which is the
 * codec's job (`encodeRequest`). Other encrypted attributes are refused for the same reason.
 */
export function encodeAttribute(dict: Dictionary, name: string, value: AttributeValue): RawAttribute[] {
  const { def, tag } = resolve(dict, name);
  if (def.encrypt !== undefined && !(def.vendorId === 0 && def.code === Attr.UserPassword)) {
    fail(def, `encrypt=${def.encrypt} values are hidden with the packet's authenticator; not supported here`);
  }
  if (def.vendorId === 0 && def.code > 255) fail(def, `number ${def.code} is not a wire attribute (1..255)`);
  const vendor = def.vendorId === 0 ? undefined : vendorFormat(dict, def.vendorId);
  const data = encodeValue(def, value, tag);

  const room = vendor ? MAX_VALUE - VSA_HEADER - vendor.typeLength - vendor.lengthLength - (vendor.continuation ? 1 : 0) : MAX_VALUE;
  if (data.length === 0 && (def.type === 'string' || def.type === 'octets')) {
    // RFC 2865 §5: "text 1-253 octets", "string 1-253 octets"; an empty value must be omitted instead.
    fail(def, 'empty value; omit the attribute instead (RFC 2865 §5)');
  }
  let chunks: Buffer[];
  if (data.length <= room) {
    chunks = [data];
  } else if (def.concat || (def.vendorId === 0 && SPLITTABLE_STANDARD.has(def.code)) || vendor?.continuation) {
    chunks = split(data, room, def.type === 'string');
  } else {
    fail(def, `value is ${data.length} octets; at most ${room} fit in one attribute and it cannot be split`);
  }
  if (!vendor) return chunks.map((chunk) => ({ type: def.code, value: chunk }));
  return chunks.map((chunk, i) => ({ type: Attr.VendorSpecific, value: wrapVsa(def, vendor, chunk, i < chunks.length - 1) }));
}

/** Unknown vendors use the RFC 2865 §5.26 suggested layout: 1-octet type, 1-octet length. */
function vendorFormat(dict: Dictionary, vendorId: number): VendorDef {
  return dict.vendorById(vendorId) ?? { name: `Vendor-${vendorId}`, id: vendorId, typeLength: 1, lengthLength: 1, continuation: false };
}

/** Splits into pieces of at most `room` octets; text is cut on UTF-8 character boundaries. */
function split(data: Buffer, room: number, isText: boolean): Buffer[] {
  const chunks: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    let end = Math.min(offset + room, data.length);
    if (isText && end < data.length) {
      // 10xxxxxx octets continue a character; do not start the next piece on one.
      while (end > offset + 1 && (data[end]! & 0xc0) === 0x80) end--;
    }
    chunks.push(data.subarray(offset, end));
    offset = end;
  }
  return chunks;
}

function wrapVsa(def: AttributeDef, vendor: VendorDef, data: Buffer, more: boolean): Buffer {
  const header = vendor.typeLength + vendor.lengthLength + (vendor.continuation ? 1 : 0);
  const out = Buffer.alloc(VSA_HEADER + header + data.length);
  out.writeUInt32BE(vendor.id, 0);
  let offset = VSA_HEADER;
  out.writeUIntBE(def.code, offset, vendor.typeLength);
  offset += vendor.typeLength;
  if (vendor.lengthLength > 0) {
    out.writeUIntBE(header + data.length, offset, vendor.lengthLength);
    offset += vendor.lengthLength;
  }
  if (vendor.continuation) out[offset++] = more ? 0x80 : 0x00;
  data.copy(out, offset);
  return out;
}

function encodeValue(def: AttributeDef, value: AttributeValue, tag: number | undefined): Buffer {
  if (Buffer.isBuffer(value)) {
    // Raw escape hatch: the caller supplies wire octets; only their size is checked.
    const size = FIXED_SIZE[def.type];
    if (size !== undefined && value.length !== size) fail(def, `${def.type} needs ${size} octets, got ${value.length}`);
    return def.hasTag && tag !== undefined ? withTag(def, value, tag) : value;
  }
  switch (def.type) {
    case 'string':
      if (typeof value !== 'string') fail(def, `expected text, got ${typeof value}`);
      return withTag(def, Buffer.from(value, 'utf8'), tag);
    case 'octets':
    case 'abinary':
    case 'tlv':
    case 'vsa':
      if (typeof value !== 'string') fail(def, `expected octets (Buffer or "0x..." hex), got ${typeof value}`);
      return withTag(def, textToOctets(def, value), tag);
    case 'integer': {
      const n = toUnsigned(def, value, def.hasTag ? 0xffffff : 0xffffffff, true);
      const out = Buffer.alloc(4);
      out.writeUInt32BE(n);
      // RFC 2868 §3.1: tagged integers keep the Tag in the first octet and a 24-bit value.
      if (def.hasTag) out[0] = tag ?? 0;
      return out;
    }
    case 'signed': {
      const n = toInteger(def, value);
      if (n < -0x80000000 || n > 0x7fffffff) fail(def, `${n} is outside the signed 32-bit range`);
      const out = Buffer.alloc(4);
      out.writeInt32BE(n);
      return out;
    }
    case 'byte':
      return Buffer.of(toUnsigned(def, value, 0xff, true));
    case 'short': {
      const out = Buffer.alloc(2);
      out.writeUInt16BE(toUnsigned(def, value, 0xffff, true));
      return out;
    }
    case 'date': {
      // RFC 2869 §5.3 / RFC 8044 §3.5: seconds since 1970-01-01 UTC, 32 bits unsigned.
      const out = Buffer.alloc(4);
      out.writeUInt32BE(toUnsigned(def, value, 0xffffffff, false));
      return out;
    }
    case 'integer64': {
      const out = Buffer.alloc(8);
      out.writeBigUInt64BE(toUnsigned64(def, value));
      return out;
    }
    case 'ipaddr':
      return parseIPv4(expectText(def, value)) ?? fail(def, `"${String(value)}" is not a dotted-quad IPv4 address`);
    case 'ipv6addr':
      return parseIPv6(expectText(def, value)) ?? fail(def, `"${String(value)}" is not an IPv6 address`);
    case 'combo-ip': {
      const text = expectText(def, value);
      return parseIPv4(text) ?? parseIPv6(text) ?? fail(def, `"${text}" is not an IP address`);
    }
    case 'ipv6prefix':
      return encodeIPv6Prefix(def, expectText(def, value));
    case 'ifid':
      return parseHexGroups(def, expectText(def, value), 4, 2, ':');
    case 'ether':
      return parseHexGroups(def, expectText(def, value), 6, 1, /[:-]/);
  }
}

/** Tagged text: RFC 2868 §3 puts a Tag octet first when one is given, or when the text itself starts with 0x00-0x1F. */
function withTag(def: AttributeDef, data: Buffer, tag: number | undefined): Buffer {
  if (!def.hasTag) return data;
  if (tag === undefined || tag === 0) {
    if (data.length === 0 || data[0]! > MAX_TAG) return data;
    tag = 0; // otherwise the receiver would take our first octet for a tag
  }
  return Buffer.concat([Buffer.of(tag), data]);
}

function expectText(def: AttributeDef, value: AttributeValue): string {
  if (typeof value !== 'string') fail(def, `expected text for ${def.type}, got ${typeof value}`);
  return value.trim();
}

function textToOctets(def: AttributeDef, text: string): Buffer {
  if (!/^0x/i.test(text)) return Buffer.from(text, 'utf8');
  const hex = text.slice(2);
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) fail(def, `"${text}" is not valid hex`);
  return Buffer.from(hex, 'hex');
}

/** number, bigint, decimal/0x text, or (for enumerated attributes) a VALUE name. */
function toUnsigned(def: AttributeDef, value: AttributeValue, max: number, allowNames: boolean): number {
  let n: number;
  if (typeof value === 'string' && allowNames && !/^\s*(0x[0-9a-f]+|[0-9]+)\s*$/i.test(value)) {
    n = valueByName(def, value.trim()) ?? fail(def, `unknown value "${value}"`);
  } else {
    n = toInteger(def, value);
  }
  if (n < 0 || n > max) fail(def, `${n} is outside 0..${max}`);
  return n;
}

function toInteger(def: AttributeDef, value: AttributeValue): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'bigint') n = Number(value);
  else if (typeof value === 'string' && /^\s*-?[0-9]+\s*$/.test(value)) n = Number(value);
  else if (typeof value === 'string' && /^\s*0x[0-9a-f]+\s*$/i.test(value)) n = Number.parseInt(value.trim().slice(2), 16);
  else fail(def, `"${String(value)}" is not an integer`);
  if (!Number.isSafeInteger(n)) fail(def, `${String(value)} is not an integer`);
  return n;
}

function toUnsigned64(def: AttributeDef, value: AttributeValue): bigint {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && /^\s*(0x[0-9a-f]+|[0-9]+)\s*$/i.test(value)) n = BigInt(value.trim());
  else fail(def, `"${String(value)}" is not an unsigned 64-bit integer`);
  if (n < 0n || n > 0xffffffffffffffffn) fail(def, `${n} is outside the unsigned 64-bit range`);
  return n;
}

/** VALUE names are case-insensitive in FreeRADIUS; exact match first, since that is the common case. */
function valueByName(def: AttributeDef, name: string): number | undefined {
  const exact = def.values.get(name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const [candidate, n] of def.values) if (candidate.toLowerCase() === lower) return n;
  return undefined;
}

function parseIPv4(text: string): Buffer | null {
  if (!isIPv4(text)) return null;
  return Buffer.from(text.split('.').map(Number));
}

function parseIPv6(text: string): Buffer | null {
  if (!isIPv6(text) || text.includes('%')) return null; // zone ids have no wire form
  let groups: number[];
  const expand = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = parseIPv4(piece);
        if (!v4) return [NaN];
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        out.push(Number.parseInt(piece, 16));
      }
    }
    return out;
  };
  const gap = text.indexOf('::');
  if (gap >= 0) {
    const head = expand(text.slice(0, gap));
    const tail = expand(text.slice(gap + 2));
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    groups = expand(text);
  }
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) return null;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** RFC 3162 §2.3: Reserved (0), Prefix-Length, then only the octets the prefix needs. */
function encodeIPv6Prefix(def: AttributeDef, text: string): Buffer {
  const slash = text.indexOf('/');
  const address = slash >= 0 ? parseIPv6(text.slice(0, slash)) : null;
  const lengthText = slash >= 0 ? text.slice(slash + 1) : '';
  if (!address || !/^[0-9]{1,3}$/.test(lengthText) || Number(lengthText) > 128) {
    fail(def, `"${text}" is not an IPv6 prefix like 2001:db8::/32`);
  }
  const bits = Number(lengthText);
  const octets = Math.ceil(bits / 8);
  // Bits past the prefix length must be zero (RFC 8044 §3.11); refusing beats silently masking.
  for (let bit = bits; bit < 128; bit++) {
    if (address[bit >> 3]! & (0x80 >> (bit & 7))) fail(def, `"${text}" has bits set beyond /${bits}`);
  }
  return Buffer.concat([Buffer.of(0, bits), address.subarray(0, octets)]);
}

function parseHexGroups(def: AttributeDef, text: string, groups: number, octetsPerGroup: number, separator: string | RegExp): Buffer {
  const parts = text.split(separator);
  const pattern = new RegExp(`^[0-9a-f]{1,${octetsPerGroup * 2}}$`, 'i');
  if (parts.length !== groups || !parts.every((p) => pattern.test(p))) {
    fail(def, `"${text}" is not a valid ${def.type}`);
  }
  const out = Buffer.alloc(groups * octetsPerGroup);
  parts.forEach((p, i) => out.writeUIntBE(Number.parseInt(p, 16), i * octetsPerGroup, octetsPerGroup));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding (untrusted input: never throws)

function rawName(code: number, vendorId: number): string {
  return vendorId === 0 ? `Attr-${code}` : `Vendor-${vendorId}-Attr-${code}`;
}

/**
 * Decodes one wire attribute. A Vendor-Specific attribute may hold several sub-attributes
 * (RFC 2865 §5.26), hence the array. Values are views into the packet; copy before mutating.
 * Encrypted attributes (User-Password, Tunnel-Password, MPPE keys) stay hidden as Buffers.
 */
export function decodeAttribute(dict: Dictionary, attr: RawAttribute): DecodedAttribute[] {
  if (attr.type === Attr.VendorSpecific) return decodeVsa(dict, attr.value);
  return [decodeOne(dict.byCode(attr.type, 0), attr.type, 0, attr.value)];
}

function decodeOne(def: AttributeDef | undefined, code: number, vendorId: number, data: Buffer): DecodedAttribute {
  if (def) {
    const decoded = decodeValue(def, data);
    if (decoded) return decoded.tag === undefined
      ? { name: def.name, vendorId, value: decoded.value }
      : { name: def.name, vendorId, value: decoded.value, tag: decoded.tag };
  }
  return { name: rawName(code, vendorId), vendorId, value: data };
}

function decodeVsa(dict: Dictionary, data: Buffer): DecodedAttribute[] {
  const whole = (): DecodedAttribute[] => [{ name: dict.byCode(Attr.VendorSpecific)?.name ?? 'Attr-26', vendorId: 0, value: data }];
  if (data.length < VSA_HEADER + 1) return whole();
  const vendorId = data.readUInt32BE(0);
  const vendor = vendorFormat(dict, vendorId);
  const header = vendor.typeLength + vendor.lengthLength + (vendor.continuation ? 1 : 0);
  const out: DecodedAttribute[] = [];
  let offset = VSA_HEADER;
  while (offset < data.length) {
    if (offset + header > data.length) return whole();
    const code = data.readUIntBE(offset, vendor.typeLength);
    // Format "t,0" has no length field: the sub-attribute runs to the end of the VSA.
    const length = vendor.lengthLength === 0 ? data.length - offset : data.readUIntBE(offset + vendor.typeLength, vendor.lengthLength);
    if (length < header || offset + length > data.length) return whole();
    out.push(decodeOne(dict.byCode(code, vendorId), code, vendorId, data.subarray(offset + header, offset + length)));
    offset += length;
  }
  return out;
}

function decodeValue(def: AttributeDef, data: Buffer): { value: AttributeValue; tag?: number } | null {
  if (def.encrypt !== undefined) return { value: data };
  const size = FIXED_SIZE[def.type];
  if (size !== undefined && data.length !== size) return null;
  switch (def.type) {
    case 'string':
      if (def.hasTag && data.length > 0 && data[0]! <= MAX_TAG) {
        return { value: data.toString('utf8', 1), tag: data[0]! };
      }
      return { value: data.toString('utf8') };
    case 'integer':
      if (def.hasTag) return { value: data.readUIntBE(1, 3), tag: data[0]! };
      return { value: data.readUInt32BE(0) };
    case 'signed':
      return { value: data.readInt32BE(0) };
    case 'date':
      return { value: data.readUInt32BE(0) };
    case 'byte':
      return { value: data[0]! };
    case 'short':
      return { value: data.readUInt16BE(0) };
    case 'integer64':
      return { value: data.readBigUInt64BE(0) };
    case 'ipaddr':
      return { value: formatIPv4(data) };
    case 'ipv6addr':
      return { value: formatIPv6(data) };
    case 'combo-ip':
      if (data.length === 4) return { value: formatIPv4(data) };
      if (data.length === 16) return { value: formatIPv6(data) };
      return null;
    case 'ipv6prefix': {
      // RFC 3162 §2.3: Length 4..20 on the wire, so 2..18 octets of value.
      if (data.length < 2 || data.length > 18) return null;
      const bits = data[1]!;
      if (bits > 128 || Math.ceil(bits / 8) > data.length - 2) return null;
      const address = Buffer.alloc(16);
      data.copy(address, 0, 2, 2 + Math.ceil(bits / 8));
      return { value: `${formatIPv6(address)}/${bits}` };
    }
    case 'ifid':
      return { value: [0, 2, 4, 6].map((i) => data.readUInt16BE(i).toString(16).padStart(4, '0')).join(':') };
    case 'ether':
      return { value: [...data].map((b) => b.toString(16).padStart(2, '0')).join(':') };
    default:
      return { value: data };
  }
}

function formatIPv4(data: Buffer): string {
  return `${data[0]}.${data[1]}.${data[2]}.${data[3]}`;
}

/** RFC 5952 §4: lowercase, no leading zeros, the longest run (>= 2) of zero groups as "::". */
function formatIPv6(data: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(data.readUInt16BE(i));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

// ---------------------------------------------------------------------------------------------
// Config syntax and lookups

/**
 * Parses one assignment as admins write it in FreeRADIUS-style config:
 * `Reply-Message = "Welcome"`, `Tunnel-Type:1 := VLAN`, `Cisco-AVPair += "shell:priv-lvl=15"`,
 * `Class = 0x0a0b`. Quoted text is literal (escapes \\ \" \' \n \r \t); for octets attributes it
 * is taken as its UTF-8 bytes, while a bare 0x... is hex.
 */
export function parseAttributeAssignment(dict: Dictionary, text: string): RawAttribute[] {
  const match = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*(?::[0-9]{1,2})?)\s*(:=|\+=|==|=)\s*(.*?)\s*$/s.exec(text);
  if (!match) throw new AttributeError(`cannot parse "${text}": expected "Name = value"`);
  const [, name, , valueText] = match as unknown as [string, string, string, string];
  if (valueText === '') throw new AttributeError(`${name}: missing value`);
  const quote = valueText[0];
  if (quote === '"' || quote === "'") {
    const literal = unquote(name, valueText);
    const def = resolve(dict, name).def;
    const isBinary = def.type === 'octets' || def.type === 'abinary' || def.type === 'tlv' || def.type === 'vsa';
    return encodeAttribute(dict, name, isBinary ? Buffer.from(literal, 'utf8') : literal);
  }
  if (/\s/.test(valueText)) throw new AttributeError(`${name}: unquoted value "${valueText}" contains spaces; quote it`);
  return encodeAttribute(dict, name, valueText);
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"', "'": "'" };

function unquote(name: string, text: string): string {
  const quote = text[0]!;
  let out = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const next = text[++i];
      if (next === undefined || !(next in ESCAPES)) throw new AttributeError(`${name}: bad escape in ${text}`);
      out += ESCAPES[next];
    } else if (c === quote) {
      if (i !== text.length - 1) throw new AttributeError(`${name}: text after closing quote in ${text}`);
      return out;
    } else {
      out += c;
    }
  }
  throw new AttributeError(`${name}: unterminated quote in ${text}`);
}

/** Value of the first attribute of this type, in wire order. */
export function getFirst(attrs: readonly RawAttribute[], type: number): Buffer | undefined {
  for (let i = 0; i < attrs.length; i++) if (attrs[i]!.type === type) return attrs[i]!.value;
  return undefined;
}

/** Values of every attribute of this type, in wire order (e.g. to concatenate EAP-Message). */
export function getAll(attrs: readonly RawAttribute[], type: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < attrs.length; i++) if (attrs[i]!.type === type) out.push(attrs[i]!.value);
  return out;
}
