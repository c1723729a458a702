/**
 * FreeRADIUS-format dictionaries: attribute names, numbers, types and enumerated values.
 *
 * A `Dictionary` is built once by `loadDictionary` and never changes afterwards; there is no
 * module-level registry (unlike the `radius` npm package, whose global dictionary state is a
 * pitfall). Loading is start-up work, so the parser favours clear errors over speed; lookups
 * by number (the decode path) are O(1) without string work.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRegularFile } from '../lang/regular-file';

export type AttributeType =
  | 'string'
  | 'octets'
  | 'integer'
  | 'ipaddr'
  | 'ipv6addr'
  | 'ipv6prefix'
  | 'date'
  | 'vsa'
  | 'byte'
  | 'short'
  | 'integer64'
  | 'ifid'
  | 'ether'
  | 'tlv'
  | 'abinary'
  | 'combo-ip'
  | 'signed';

export interface AttributeDef {
  readonly name: string;
  readonly code: number;
  /** 0 = standard attribute, otherwise the SMI enterprise number of its vendor. */
  readonly vendorId: number;
  readonly type: AttributeType;
  /** 1 = User-Password method (RFC 2865 §5.2), 2 = salted Tunnel-Password (RFC 2868 §3.5), 3 = Ascend. */
  readonly encrypt?: number;
  /** RFC 2868 §3 Tag octet. */
  readonly hasTag?: boolean;
  /** Long values are split over consecutive attributes and concatenated on receipt (RFC 3579 §3.1). */
  readonly concat?: boolean;
  /** Several values packed into one attribute (FreeRADIUS "array" flag). */
  readonly array?: boolean;
  readonly values: ReadonlyMap<string, number>;
  readonly valueNames: ReadonlyMap<number, string>;
}

export interface VendorDef {
  readonly name: string;
  readonly id: number;
  /** Octets of the vendor type field inside the VSA: 1, 2 or 4 (RFC 2865 §5.26 suggests 1). */
  readonly typeLength: number;
  /** Octets of the vendor length field: 0, 1 or 2. */
  readonly lengthLength: number;
  /** WiMAX-style continuation octet after the length (FreeRADIUS "format=1,1,c"). */
  readonly continuation: boolean;
}

/** A dictionary file could not be read or has a line we cannot make sense of. */
export class DictionaryError extends Error {
  override readonly name = 'DictionaryError';
}

const KNOWN_TYPES: ReadonlySet<string> = new Set<AttributeType>([
  'string', 'octets', 'integer', 'ipaddr', 'ipv6addr', 'ipv6prefix', 'date', 'vsa', 'byte', 'short',
  'integer64', 'ifid', 'ether', 'tlv', 'abinary', 'combo-ip', 'signed',
]);

/** FreeRADIUS v4 spellings of the same wire types. */
const TYPE_ALIASES: ReadonlyMap<string, AttributeType> = new Map<string, AttributeType>([
  ['uint8', 'byte'],
  ['uint16', 'short'],
  ['uint32', 'integer'],
  ['uint64', 'integer64'],
  ['int32', 'signed'],
  ['ipv4addr', 'ipaddr'],
]);

/**
 * Keywords that only matter to FreeRADIUS itself or to newer dictionary formats: skipped
 * silently. Any other unknown keyword is skipped too (so dictionaries copied from a FreeRADIUS
 * install always load), but noted in `Dictionary.warnings` so a typo does not go unseen.
 */
const IGNORED_KEYWORDS: ReadonlySet<string> = new Set([
  'FLAGS', 'PROTOCOL', 'MEMBER', 'STRUCT', 'DEFINE', 'ENUM', 'ALIAS', '$INCLUDE-DIR',
]);

const MAX_UINT32 = 0xffffffff;
const MAX_INCLUDE_DEPTH = 32;

export class Dictionary {
  readonly #byName: ReadonlyMap<string, AttributeDef>;
  readonly #standardByCode: ReadonlyArray<AttributeDef | undefined>;
  readonly #byVendorCode: ReadonlyMap<number, ReadonlyMap<number, AttributeDef>>;
  readonly #vendorsByName: ReadonlyMap<string, VendorDef>;
  readonly #vendorsById: ReadonlyMap<number, VendorDef>;
  /** Lines that were skipped because their keyword is unknown ("file:line: ..."), for the operator's log. */
  readonly warnings: readonly string[];

  /** @internal Use `loadDictionary`; the constructor takes the already-built tables. */
  constructor(
    byName: ReadonlyMap<string, AttributeDef>,
    byVendorCode: ReadonlyMap<number, ReadonlyMap<number, AttributeDef>>,
    vendorsByName: ReadonlyMap<string, VendorDef>,
    vendorsById: ReadonlyMap<number, VendorDef>,
    warnings: readonly string[] = [],
  ) {
    this.warnings = Object.freeze([...warnings]);
    this.#byName = byName;
    this.#byVendorCode = byVendorCode;
    this.#vendorsByName = vendorsByName;
    this.#vendorsById = vendorsById;
    // Standard attributes are looked up for every attribute of every packet: a dense array.
    const standard: Array<AttributeDef | undefined> = new Array(256).fill(undefined);
    for (const [code, def] of byVendorCode.get(0) ?? []) if (code < 256) standard[code] = def;
    this.#standardByCode = Object.freeze(standard);
    Object.freeze(this);
  }

  /** Case-insensitive, as in FreeRADIUS. */
  byName(name: string): AttributeDef | undefined {
    return this.#byName.get(name.toLowerCase());
  }

  byCode(code: number, vendorId = 0): AttributeDef | undefined {
    if (vendorId === 0 && code >= 0 && code < 256) return this.#standardByCode[code];
    return this.#byVendorCode.get(vendorId)?.get(code);
  }

  vendorByName(name: string): VendorDef | undefined {
    return this.#vendorsByName.get(name.toLowerCase());
  }

  vendorById(id: number): VendorDef | undefined {
    return this.#vendorsById.get(id);
  }

  /** Every attribute definition, once per name (aliases sharing a number each appear). */
  *attributes(): IterableIterator<AttributeDef> {
    yield* new Set(this.#byName.values());
  }

  *vendors(): IterableIterator<VendorDef> {
    yield* this.#vendorsById.values();
  }

  get attributeCount(): number {
    return this.#byName.size;
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

interface MutableAttributeDef {
  name: string;
  code: number;
  vendorId: number;
  type: AttributeType;
  encrypt?: number;
  hasTag?: boolean;
  concat?: boolean;
  array?: boolean;
  values: Map<string, number>;
  valueNames: Map<number, string>;
}

interface PendingValue {
  attribute: string;
  name: string;
  value: number;
  where: string;
}

/** Mutable state of one load; discarded once the `Dictionary` is built. */
class DictionaryBuilder {
  readonly attrsByName = new Map<string, MutableAttributeDef>();
  readonly attrsByVendorCode = new Map<number, Map<number, MutableAttributeDef>>();
  readonly vendorsByName = new Map<string, VendorDef>();
  readonly vendorsById = new Map<number, VendorDef>();
  /** Names we deliberately did not register (TLV members, extended attributes); VALUEs for them are ignored. */
  readonly skippedNames = new Set<string>();
  /** VALUE lines may precede their ATTRIBUTE (FreeRADIUS allows it), so they are applied at the end. */
  readonly pendingValues: PendingValue[] = [];
  readonly warnings: string[] = [];
  /** Who named the top-level file being loaded ("/etc/radotp/radotp.yaml: radius.dictionaries.0: "), or "". */
  origin = '';

  /** `where`: the $INCLUDE line naming `file`; undefined for a top-level file. */
  loadFile(file: string, includeStack: readonly string[], optional: boolean, where?: string): void {
    const absolute = path.resolve(file);
    if (includeStack.includes(absolute)) {
      throw new DictionaryError(`${where}: $INCLUDE loop: ${[...includeStack, absolute].join(' -> ')}`);
    }
    if (includeStack.length >= MAX_INCLUDE_DEPTH) {
      throw new DictionaryError(`${where}: $INCLUDE nested deeper than ${MAX_INCLUDE_DEPTH}`);
    }
    let text: string;
    try {
      // A regular file only: /dev/zero or a FIFO would be read forever.
      text = readRegularFile(absolute).toString('utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (optional && e.code === 'ENOENT') return;
      if (where === undefined) throw new DictionaryError(`${this.origin}${absolute}: cannot read (${e.code ?? e.message})`);
      throw new DictionaryError(`${where}: cannot read dictionary ${absolute} (${e.code ?? e.message})`);
    }
    // A control character (other than tabs, line and page breaks) means binary data, not a dictionary.
    const control = /[\x00-\x08\x0e-\x1f\x7f]/.exec(text);
    if (control) {
      const line = text.slice(0, control.index).split('\n').length;
      throw new DictionaryError(`${this.origin}${absolute}:${line}: not a text file (control character 0x${control[0].charCodeAt(0).toString(16).padStart(2, '0')})`);
    }
    new FileParser(this, absolute, [...includeStack, absolute]).parse(text);
  }

  addVendor(vendor: VendorDef, where: string): void {
    // Two names for one number are allowed (aliases; the last one is used for printing), but one
    // name cannot stand for two numbers.
    const sameName = this.vendorsByName.get(vendor.name.toLowerCase());
    if (sameName && sameName.id !== vendor.id) {
      throw new DictionaryError(`${where}: vendor ${vendor.name} already defined with number ${sameName.id}`);
    }
    this.vendorsByName.set(vendor.name.toLowerCase(), vendor);
    this.vendorsById.set(vendor.id, vendor);
  }

  addAttribute(def: MutableAttributeDef): void {
    const key = def.name.toLowerCase();
    const previous = this.attrsByName.get(key);
    if (previous) {
      // A redefinition (e.g. an extra file overriding a shipped one) replaces the old entry;
      // its VALUEs carry over when it still names the same attribute.
      if (previous.vendorId === def.vendorId && previous.code === def.code) {
        for (const [n, v] of previous.values) def.values.set(n, v);
        for (const [v, n] of previous.valueNames) def.valueNames.set(v, n);
      }
      this.attrsByVendorCode.get(previous.vendorId)?.delete(previous.code);
    }
    this.attrsByName.set(key, def);
    let byCode = this.attrsByVendorCode.get(def.vendorId);
    if (!byCode) this.attrsByVendorCode.set(def.vendorId, (byCode = new Map()));
    // Several names may share a number (aliases); the last one defined is used when decoding.
    byCode.set(def.code, def);
  }

  build(): Dictionary {
    for (const pending of this.pendingValues) {
      const def = this.attrsByName.get(pending.attribute.toLowerCase());
      if (!def) {
        if (this.skippedNames.has(pending.attribute.toLowerCase())) continue;
        throw new DictionaryError(`${pending.where}: VALUE for unknown attribute ${pending.attribute}`);
      }
      def.values.set(pending.name, pending.value);
      // Last definition wins for printing, as in FreeRADIUS (later names replace "# dup" aliases).
      def.valueNames.set(pending.value, pending.name);
    }
    const frozen = new Map<MutableAttributeDef, AttributeDef>();
    const freeze = (def: MutableAttributeDef): AttributeDef => {
      let out = frozen.get(def);
      if (!out) frozen.set(def, (out = Object.freeze({ ...def })));
      return out;
    };
    const byName = new Map<string, AttributeDef>();
    for (const [key, def] of this.attrsByName) byName.set(key, freeze(def));
    const byVendorCode = new Map<number, Map<number, AttributeDef>>();
    for (const [vendorId, codes] of this.attrsByVendorCode) {
      const out = new Map<number, AttributeDef>();
      for (const [code, def] of codes) out.set(code, freeze(def));
      byVendorCode.set(vendorId, out);
    }
    return new Dictionary(byName, byVendorCode, new Map(this.vendorsByName), new Map(this.vendorsById), this.warnings);
  }
}

/** Parses one file; BEGIN-VENDOR / BEGIN-TLV blocks do not leak across files. */
class FileParser {
  #vendorBlock: { vendor: VendorDef | null; name: string } | null = null;
  /**
   * Open nested blocks whose ATTRIBUTEs are not top-level RADIUS attributes: BEGIN-TLV (FreeRADIUS 3),
   * BEGIN (its v4 spelling) and BEGIN-PROTOCOL for another protocol such as DHCP.
   */
  readonly #nested: Array<{ keyword: string; skips: boolean }> = [];
  #lineNo = 0;

  constructor(
    private readonly builder: DictionaryBuilder,
    private readonly file: string,
    private readonly includeStack: readonly string[],
  ) {}

  private get where(): string {
    return `${this.builder.origin}${this.file}:${this.#lineNo}`;
  }

  private fail(problem: string): never {
    throw new DictionaryError(`${this.where}: ${problem}`);
  }

  parse(text: string): void {
    const lines = text.split('\n');
    let statements = 0;
    const unknown: number[] = [];
    for (let i = 0; i < lines.length; i++) {
      this.#lineNo = i + 1;
      const hash = lines[i]!.indexOf('#');
      const content = (hash >= 0 ? lines[i]!.slice(0, hash) : lines[i]!).trim();
      if (content === '') continue;
      statements++;
      const known = this.parseLine(content.split(/\s+/));
      if (!known) unknown.push(this.#lineNo);
    }
    // An unknown keyword is skipped with a warning (FreeRADIUS has more than we know), but a file made mostly of
    // them is not a dictionary at all: some other file named by mistake, which would start with a warning a line.
    if (unknown.length * 2 > statements) {
      throw new DictionaryError(
        `${this.builder.origin}${this.file}: not a FreeRADIUS dictionary: ${unknown.length} of ${statements} lines start with an unknown keyword (the first: line ${unknown[0]})`,
      );
    }
    this.#lineNo = lines.length;
    if (this.#vendorBlock) this.fail(`BEGIN-VENDOR ${this.#vendorBlock.name} without END-VENDOR`);
    if (this.#nested.length > 0) this.fail(`${this.#nested[this.#nested.length - 1]!.keyword} without END`);
  }

  /** False for a line skipped for its unknown keyword. */
  private parseLine(fields: string[]): boolean {
    const keyword = fields[0]!;
    switch (keyword) {
      case '$INCLUDE':
      case '$INCLUDE-':
        this.include(fields, keyword === '$INCLUDE-');
        break;
      case 'ATTRIBUTE':
        this.attribute(fields);
        break;
      case 'VALUE':
        this.value(fields);
        break;
      case 'VENDOR':
        this.vendor(fields);
        break;
      case 'BEGIN-VENDOR':
        this.beginVendor(fields);
        break;
      case 'END-VENDOR':
        this.endVendor(fields);
        break;
      case 'BEGIN-TLV':
      case 'BEGIN':
        this.#nested.push({ keyword, skips: true });
        break;
      case 'BEGIN-PROTOCOL':
        this.#nested.push({ keyword, skips: fields[1]?.toUpperCase() !== 'RADIUS' });
        break;
      case 'END-TLV':
      case 'END':
      case 'END-PROTOCOL': {
        const open = this.#nested.pop();
        if (!open || `END${open.keyword.slice('BEGIN'.length)}` !== keyword) this.fail(`${keyword} without matching BEGIN`);
        break;
      }
      default:
        if (IGNORED_KEYWORDS.has(keyword.toUpperCase())) break;
        this.builder.warnings.push(`${this.where}: skipped unknown keyword "${keyword}"`);
        return false;
    }
    return true;
  }

  private include(fields: string[], optional: boolean): void {
    if (fields.length < 2) this.fail(`${fields[0]} needs a file name`);
    const target = path.resolve(path.dirname(this.file), fields[1]!);
    this.builder.loadFile(target, this.includeStack, optional, this.where);
  }

  private attribute(fields: string[]): void {
    if (fields.length < 4) this.fail('ATTRIBUTE needs: name number type [flags]');
    const [, name, numberText, typeText, ...rest] = fields as [string, string, string, string, ...string[]];

    // Dotted numbers ("241.1", "26.9.1") are RFC 6929 extended attributes or TLV members, and
    // nested blocks hold members too; this codec handles neither, so they are known-but-skipped.
    if (numberText.includes('.') || this.#nested.some((n) => n.skips) || this.#vendorBlock?.vendor === null) {
      this.builder.skippedNames.add(name.toLowerCase());
      return;
    }
    const code = parseNumber(numberText);
    if (code === undefined) this.fail(`ATTRIBUTE ${name}: bad number "${numberText}"`);

    let vendor = this.#vendorBlock?.vendor ?? undefined;
    const def: MutableAttributeDef = {
      name,
      code,
      vendorId: 0,
      type: parseType(typeText),
      values: new Map(),
      valueNames: new Map(),
    };
    for (const flagGroup of rest) {
      for (const flag of flagGroup.split(',')) {
        if (flag === '') continue;
        const [key, val] = flag.split('=', 2) as [string, string | undefined];
        switch (key) {
          case 'encrypt': {
            const method = val === undefined ? undefined : parseNumber(val);
            if (method === undefined || method < 1 || method > 3) this.fail(`ATTRIBUTE ${name}: bad encrypt=${val}`);
            def.encrypt = method;
            break;
          }
          case 'has_tag':
            def.hasTag = true;
            break;
          case 'concat':
            def.concat = true;
            break;
          case 'array':
            def.array = true;
            break;
          default: {
            // Old-style "ATTRIBUTE name number type Vendor" (FreeRADIUS 1.x) names the vendor here.
            const legacyVendor = val === undefined ? this.builder.vendorsByName.get(key.toLowerCase()) : undefined;
            if (legacyVendor) vendor = legacyVendor;
            // Other flags (virtual, secret, internal, ...) do not change the wire format.
          }
        }
      }
    }
    if (vendor) {
      def.vendorId = vendor.id;
      const maxCode = vendor.typeLength === 4 ? MAX_UINT32 : 2 ** (8 * vendor.typeLength) - 1;
      if (code > maxCode) this.fail(`ATTRIBUTE ${name}: number ${code} does not fit vendor ${vendor.name}'s type field`);
    } else if (code > MAX_UINT32) {
      this.fail(`ATTRIBUTE ${name}: number ${code} out of range`);
    }
    this.builder.addAttribute(def);
  }

  private value(fields: string[]): void {
    if (fields.length < 4) this.fail('VALUE needs: attribute name number');
    const [, attribute, name, numberText] = fields as [string, string, string, string];
    const value = parseNumber(numberText);
    if (value === undefined) this.fail(`VALUE ${attribute} ${name}: bad number "${numberText}"`);
    this.builder.pendingValues.push({ attribute, name, value, where: this.where });
  }

  private vendor(fields: string[]): void {
    if (fields.length < 3) this.fail('VENDOR needs: name number [format=t,l]');
    const [, name, numberText, format] = fields as [string, string, string, string | undefined];
    const id = parseNumber(numberText);
    if (id === undefined || id > MAX_UINT32) this.fail(`VENDOR ${name}: bad number "${numberText}"`);
    let typeLength = 1;
    let lengthLength = 1;
    let continuation = false;
    if (format !== undefined) {
      // RFC 2865 §5.26 leaves the inner layout to the vendor; FreeRADIUS spells it "format=t,l[,c]".
      const spec = format.startsWith('format=') ? format.slice('format='.length).split(',') : [];
      const t = Number(spec[0]);
      const l = Number(spec[1]);
      if (spec.length < 2 || ![1, 2, 4].includes(t) || ![0, 1, 2].includes(l) || (spec[2] !== undefined && spec[2] !== 'c')) {
        this.fail(`VENDOR ${name}: bad format "${format}" (expected format=1|2|4,0|1|2[,c])`);
      }
      if (spec[2] === 'c' && !(t === 1 && l === 1)) this.fail(`VENDOR ${name}: continuation needs format=1,1,c`);
      typeLength = t;
      lengthLength = l;
      continuation = spec[2] === 'c';
    }
    this.builder.addVendor(Object.freeze({ name, id, typeLength, lengthLength, continuation }), this.where);
  }

  private beginVendor(fields: string[]): void {
    if (fields.length < 2) this.fail('BEGIN-VENDOR needs a vendor name');
    if (this.#vendorBlock) this.fail(`BEGIN-VENDOR ${fields[1]} inside BEGIN-VENDOR ${this.#vendorBlock.name}`);
    const vendor = this.builder.vendorsByName.get(fields[1]!.toLowerCase());
    if (!vendor) this.fail(`BEGIN-VENDOR for unknown vendor ${fields[1]}`);
    // "format=Extended-Vendor-Specific-N" puts the block into the RFC 6929 extended space, which
    // this codec does not speak; its attributes are skipped (vendor: null).
    const extended = fields.slice(2).some((f) => f.startsWith('format=Extended-Vendor-Specific'));
    this.#vendorBlock = { vendor: extended ? null : vendor, name: vendor.name };
  }

  private endVendor(fields: string[]): void {
    if (!this.#vendorBlock) this.fail('END-VENDOR without BEGIN-VENDOR');
    if (fields[1] !== undefined && fields[1].toLowerCase() !== this.#vendorBlock.name.toLowerCase()) {
      this.fail(`END-VENDOR ${fields[1]} does not match BEGIN-VENDOR ${this.#vendorBlock.name}`);
    }
    this.#vendorBlock = null;
  }
}

/** Decimal, or 0x hex; unsigned. Returns undefined for anything else (no silent NaN). */
function parseNumber(text: string): number | undefined {
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  if (/^0x[0-9a-f]+$/i.test(text)) {
    const n = Number.parseInt(text.slice(2), 16);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

/** Unknown types are carried as raw octets rather than refused (FreeRADIUS has many exotic ones). */
function parseType(text: string): AttributeType {
  const base = text.toLowerCase().replace(/\[.*\]$/, ''); // "octets[16]" = fixed-size octets
  if (KNOWN_TYPES.has(base)) return base as AttributeType;
  return TYPE_ALIASES.get(base) ?? 'octets';
}

/** A dictionary file and who named it ("/etc/radotp/radotp.yaml: radius.dictionaries.0"), which its errors and warnings begin with. */
export interface DictionarySource {
  readonly file: string;
  readonly origin: string;
}

/**
 * Loads the files in order into one dictionary; later files may redefine earlier names.
 * `$INCLUDE` paths are relative to the including file.
 */
export function loadDictionary(files: readonly (string | DictionarySource)[]): Dictionary {
  const builder = new DictionaryBuilder();
  for (const f of files) {
    builder.origin = typeof f === 'string' ? '' : `${f.origin}: `;
    builder.loadFile(typeof f === 'string' ? f : f.file, [], false);
  }
  return builder.build();
}

/** Directory holding the shipped `dictionary` root, from src/radius (ts) or dist/src/radius (build). */
export function defaultDictionaryDir(): string {
  const candidates = [path.resolve(__dirname, '../../dictionaries'), path.resolve(__dirname, '../../../dictionaries')];
  for (const dir of candidates) if (fs.existsSync(path.join(dir, 'dictionary'))) return dir;
  throw new DictionaryError(`shipped dictionaries not found (looked in ${candidates.join(', ')})`);
}

/** The shipped dictionaries plus site files (loaded after, so they may override). */
export function loadDefaultDictionary(extraFiles: readonly (string | DictionarySource)[] = []): Dictionary {
  return loadDictionary([path.join(defaultDictionaryDir(), 'dictionary'), ...extraFiles]);
}
