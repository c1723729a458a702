import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AttributeDef,
  DictionaryError,
  defaultDictionaryDir,
  loadDefaultDictionary,
  loadDictionary,
} from '../../src/radius/dictionary';

const FIXTURES = join(__dirname, 'fixtures', 'dictionaries');
const FREERADIUS_ROOT = '/usr/share/freeradius/dictionary';

const shape = (def: AttributeDef | undefined) =>
  def && { name: def.name, code: def.code, vendorId: def.vendorId, type: def.type };

describe('the shipped dictionaries', () => {
  const dict = loadDefaultDictionary();

  test.each([
    // name, code, vendorId, type — numbers from the RFCs / vendor documents named in each file
    ['User-Name', 1, 0, 'string'],
    ['User-Password', 2, 0, 'string'],
    ['NAS-IP-Address', 4, 0, 'ipaddr'],
    ['Service-Type', 6, 0, 'integer'],
    ['Reply-Message', 18, 0, 'string'],
    ['State', 24, 0, 'octets'],
    ['Class', 25, 0, 'octets'],
    ['Vendor-Specific', 26, 0, 'vsa'],
    ['Session-Timeout', 27, 0, 'integer'],
    ['Proxy-State', 33, 0, 'octets'],
    ['Acct-Status-Type', 40, 0, 'integer'],
    ['Event-Timestamp', 55, 0, 'date'],
    ['Tunnel-Type', 64, 0, 'integer'],
    ['Tunnel-Private-Group-Id', 81, 0, 'string'],
    ['EAP-Message', 79, 0, 'octets'],
    ['Message-Authenticator', 80, 0, 'octets'],
    ['NAS-IPv6-Address', 95, 0, 'ipv6addr'],
    ['Framed-Interface-Id', 96, 0, 'ifid'],
    ['Framed-IPv6-Prefix', 97, 0, 'ipv6prefix'],
    ['Delegated-IPv6-Prefix', 123, 0, 'ipv6prefix'],
    ['Framed-IPv6-Address', 168, 0, 'ipv6addr'],
    ['Cisco-AVPair', 1, 9, 'string'],
    ['MS-CHAP-Challenge', 11, 311, 'octets'],
    ['MS-CHAP2-Response', 25, 311, 'octets'],
    ['MS-MPPE-Recv-Key', 17, 311, 'octets'],
    ['Fortinet-Group-Name', 1, 12356, 'string'],
    ['Fortinet-Access-Profile', 6, 12356, 'string'],
    ['PaloAlto-Admin-Role', 1, 25461, 'string'],
    ['PaloAlto-User-Group', 5, 25461, 'string'],
    ['Juniper-Local-User-Name', 1, 2636, 'string'],
    ['Juniper-Allow-Commands', 2, 2636, 'string'],
  ])('%s is %i (vendor %i), %s', (name, code, vendorId, type) => {
    expect(shape(dict.byName(name))).toEqual({ name, code, vendorId, type });
    expect(dict.byCode(code, vendorId)?.name).toBe(name);
  });

  test.each([
    ['User-Password', { encrypt: 1 }],
    ['Tunnel-Type', { hasTag: true }],
    ['Tunnel-Password', { hasTag: true, encrypt: 2 }],
    ['EAP-Message', { concat: true }],
    ['MS-MPPE-Send-Key', { encrypt: 2 }],
  ])('%s carries its flags', (name, flags) => {
    expect(dict.byName(name)).toMatchObject(flags);
  });

  test.each([
    ['Service-Type', 'Authenticate-Only', 8],
    ['NAS-Port-Type', 'Wireless-802.11', 19],
    ['Tunnel-Type', 'VLAN', 13],
    ['Tunnel-Medium-Type', 'IEEE-802', 6],
    ['Prompt', 'No-Echo', 0],
  ])('VALUE %s %s = %i, both ways', (attribute, name, value) => {
    const def = dict.byName(attribute)!;
    expect(def.values.get(name)).toBe(value);
    expect(def.valueNames.get(value)).toBe(name);
  });

  test.each([
    ['Cisco', 9],
    ['Microsoft', 311],
    ['Fortinet', 12356],
    ['PaloAlto', 25461],
    ['Juniper', 2636],
  ])('vendor %s is %i with the RFC 2865 §5.26 layout', (name, id) => {
    expect(dict.vendorByName(name)).toEqual({ name, id, typeLength: 1, lengthLength: 1, continuation: false });
    expect(dict.vendorById(id)?.name).toBe(name);
  });

  test('names are case-insensitive and unknown names/codes are undefined', () => {
    expect(dict.byName('user-name')?.code).toBe(1);
    expect(dict.byName('CISCO-AVPAIR')?.vendorId).toBe(9);
    expect(dict.vendorByName('cisco')?.id).toBe(9);
    expect(dict.byName('No-Such-Attribute')).toBeUndefined();
    expect(dict.byCode(250)).toBeUndefined();
    expect(dict.byCode(1, 424242)).toBeUndefined();
    expect(dict.vendorById(424242)).toBeUndefined();
    expect(dict.warnings).toEqual([]);
  });

  test('the dictionary and its definitions are frozen', () => {
    expect(Object.isFrozen(dict)).toBe(true);
    expect(Object.isFrozen(dict.byName('User-Name'))).toBe(true);
    expect(Object.isFrozen(dict.vendorByName('Cisco'))).toBe(true);
  });

  test('every shipped number agrees with the FreeRADIUS dictionary of the same name', () => {
    const freeradius = loadDictionary([FREERADIUS_ROOT]);
    const mismatches: string[] = [];
    let compared = 0;
    for (const def of dict.attributes()) {
      const theirs = freeradius.byName(def.name);
      if (!theirs) {
        mismatches.push(`${def.name}: not in FreeRADIUS`);
        continue;
      }
      compared++;
      if (theirs.code !== def.code || theirs.vendorId !== def.vendorId) {
        mismatches.push(`${def.name}: ours ${def.vendorId}/${def.code}, FreeRADIUS ${theirs.vendorId}/${theirs.code}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBe(dict.attributeCount);
  });

  test('defaultDictionaryDir finds the shipped root', () => {
    expect(defaultDictionaryDir()).toBe(join(__dirname, '..', '..', 'dictionaries'));
  });

  test('extra files are loaded after the shipped ones and may add or override', () => {
    const extended = loadDefaultDictionary([join(FIXTURES, 'dictionary.features')]);
    expect(extended.byName('Acme-Role')?.vendorId).toBe(99999);
    expect(extended.byName('User-Name')?.code).toBe(1);
  });
});

describe('the whole FreeRADIUS dictionary tree', () => {
  test(`${FREERADIUS_ROOT} loads without error`, () => {
    const dict = loadDictionary([FREERADIUS_ROOT]);
    expect(dict.attributeCount).toBeGreaterThan(5000);
    expect(dict.byName('WiMAX-Capability')?.type).toBe('tlv');
    // A TLV member must not shadow the top-level vendor attribute with the same number.
    expect(dict.byCode(1, 24757)?.name).toBe('WiMAX-Capability');
    expect(dict.byName('WiMAX-Release')).toBeUndefined();
    expect(shape(dict.byName('Cisco-AVPair'))).toEqual({ name: 'Cisco-AVPair', code: 1, vendorId: 9, type: 'string' });
    expect(dict.vendorByName('USR')).toMatchObject({ id: 429, typeLength: 4, lengthLength: 0 });
    expect(dict.vendorByName('Lucent')).toMatchObject({ id: 4846, typeLength: 2, lengthLength: 1 });
    expect(dict.vendorById(24757)?.continuation).toBe(true);
    expect(dict.byName('Acct-Status-Type')?.values.get('Interim-Update')).toBe(3);
  });
});

describe('parsing features (fixture)', () => {
  const dict = loadDictionary([join(FIXTURES, 'dictionary.features')]);

  test.each([
    ['Test-Hex-Number', 0xf0, 0, 'integer'],
    ['Test-Exotic-Type', 242, 0, 'octets'],
    ['Test-Fixed-Octets', 243, 0, 'octets'],
    ['Test-V4-Spelling', 244, 0, 'integer'],
    ['Test-Virtual', 1234, 0, 'string'],
    ['Acme-Role', 1, 99999, 'string'],
    ['Acme-Level', 300, 99999, 'integer'],
    ['Acme-Container', 2, 99999, 'tlv'],
    ['Legacy-Thing', 5, 4242, 'string'],
  ])('%s is %i (vendor %i), %s', (name, code, vendorId, type) => {
    expect(shape(dict.byName(name))).toEqual({ name, code, vendorId, type });
  });

  test('hex VALUE numbers and VALUEs that precede their ATTRIBUTE', () => {
    expect(dict.byName('Test-Hex-Number')!.values.get('Early-Value')).toBe(0x10);
    expect(dict.byName('Test-Forward')!.values.get('Defined-Before-Attribute')).toBe(7);
    expect(dict.byName('Acme-Level')!.valueNames.get(2)).toBe('High');
  });

  test('flags', () => {
    expect(dict.byName('Test-Flags')).toMatchObject({ hasTag: true, encrypt: 2 });
    expect(dict.byName('Test-Concat')).toMatchObject({ concat: true });
  });

  test('vendor format=2,2', () => {
    expect(dict.vendorByName('Acme')).toEqual({ name: 'Acme', id: 99999, typeLength: 2, lengthLength: 2, continuation: false });
  });

  test('aliases share a number; the last definition is used to decode', () => {
    expect(dict.byName('Test-Old-Name')?.code).toBe(247);
    expect(dict.byCode(247)?.name).toBe('Test-New-Name');
  });

  test('TLV members, extended attributes and unknown keywords are skipped', () => {
    expect(dict.byName('Acme-Inner')).toBeUndefined();
    expect(dict.byCode(1, 99999)?.name).toBe('Acme-Role');
    expect(dict.byName('Test-Extended')).toBeUndefined();
    expect(dict.byCode(241)?.name).toBe('Test-Forward');
    expect(dict.warnings).toEqual([]); // FLAGS, PROTOCOL, MEMBER, STRUCT, DEFINE are known to be harmless
  });
});

describe('errors name file:line and the problem', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'radotp-dict-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes `lines` to a fresh file and loads it; returns the error message or "loaded". */
  function load(name: string, lines: string[]): string {
    const file = join(dir, name);
    writeFileSync(file, lines.join('\n'));
    try {
      loadDictionary([file]);
      return 'loaded';
    } catch (err) {
      expect(err).toBeInstanceOf(DictionaryError);
      return (err as Error).message.replace(dir, '<dir>');
    }
  }

  const cases: Array<[string, string[], RegExp]> = [
    ['ATTRIBUTE missing type', ['# header', 'ATTRIBUTE Foo 1'], /<dir>\/case-0:2: ATTRIBUTE needs/],
    ['ATTRIBUTE bad number', ['ATTRIBUTE Foo one integer'], /case-1:1: ATTRIBUTE Foo: bad number "one"/],
    ['ATTRIBUTE negative number', ['ATTRIBUTE Foo -1 integer'], /case-2:1: .*bad number/],
    ['bad encrypt flag', ['ATTRIBUTE Foo 1 string encrypt=9'], /case-3:1: ATTRIBUTE Foo: bad encrypt=9/],
    ['VALUE for an unknown attribute', ['ATTRIBUTE Foo 1 integer', '', 'VALUE Bar Baz 1'], /case-4:3: VALUE for unknown attribute Bar/],
    ['VALUE with a bad number', ['ATTRIBUTE Foo 1 integer', 'VALUE Foo Baz 1x'], /case-5:2: VALUE Foo Baz: bad number/],
    ['VENDOR with a bad format', ['VENDOR V 7 format=3,1'], /case-6:1: VENDOR V: bad format "format=3,1"/],
    ['VENDOR with a bad number', ['VENDOR V x'], /case-7:1: VENDOR V: bad number/],
    ['one vendor name, two numbers', ['VENDOR V 7', 'VENDOR V 8'], /case-8:2: vendor V already defined with number 7/],
    ['BEGIN-VENDOR of an unknown vendor', ['BEGIN-VENDOR Nobody'], /case-9:1: BEGIN-VENDOR for unknown vendor Nobody/],
    ['END-VENDOR without BEGIN-VENDOR', ['END-VENDOR V'], /case-10:1: END-VENDOR without BEGIN-VENDOR/],
    ['mismatched END-VENDOR', ['VENDOR V 7', 'VENDOR W 8', 'BEGIN-VENDOR V', 'END-VENDOR W'], /case-11:4: END-VENDOR W does not match/],
    ['unterminated BEGIN-VENDOR', ['VENDOR V 7', 'BEGIN-VENDOR V', 'ATTRIBUTE V-A 1 string'], /case-12:3: BEGIN-VENDOR V without END-VENDOR/],
    ['vendor number too big for its type field', ['VENDOR V 7', 'BEGIN-VENDOR V', 'ATTRIBUTE V-A 256 string', 'END-VENDOR V'], /case-13:3: .*does not fit/],
    ['END-TLV without BEGIN-TLV', ['END-TLV Foo'], /case-14:1: END-TLV without matching BEGIN/],
    ['missing $INCLUDE', ['$INCLUDE nowhere.dict'], /case-15:1: cannot read dictionary .*nowhere\.dict/],
    ['$INCLUDE loop', ['$INCLUDE case-16'], /case-16:1: \$INCLUDE loop/],
    ['$INCLUDE without a file', ['$INCLUDE'], /case-17:1: \$INCLUDE needs a file name/],
    // Some other file named by mistake: refused rather than loaded with a warning a line.
    ['binary data', ['ATTRIBUTE A 1 string', '\x00\x17\xff garbage'], /^<dir>\/case-18:2: not a text file \(control character 0x00\)$/],
    ['mostly unknown keywords', ['# notes', 'hello world', 'ATTRIBUTE A 1 string', 'foo: bar'], /^<dir>\/case-19: not a FreeRADIUS dictionary: 2 of 3 lines start with an unknown keyword \(the first: line 2\)$/],
    ['only unknown keywords', ['[section]', 'key = value'], /^<dir>\/case-20: not a FreeRADIUS dictionary: 2 of 2 lines/],
    ['an included file of unknown keywords', ['$INCLUDE case-20', 'ATTRIBUTE A 1 string'], /^<dir>\/case-20: not a FreeRADIUS dictionary/],
  ];
  // Each case gets its own file, case-<index>, which the expected messages name.
  test.each(cases.map(([name, lines, expected], index) => [name, index, lines, expected] as const))(
    '%s',
    (_name, index, lines, expected) => {
      expect(load(`case-${index}`, lines)).toMatch(expected);
    },
  );

  test('an unknown keyword is skipped but reported', () => {
    const file = join(dir, 'warn');
    writeFileSync(file, 'ATRIBUTE Typo 1 string\nATTRIBUTE Fine 2 string\n');
    const dict = loadDictionary([file]);
    expect(dict.byName('Fine')?.code).toBe(2);
    expect(dict.warnings).toEqual([`${file}:1: skipped unknown keyword "ATRIBUTE"`]);
  });

  test('a missing top-level file is a DictionaryError naming it', () => {
    expect(() => loadDictionary([join(dir, 'absent')])).toThrow(new DictionaryError(`${join(dir, 'absent')}: cannot read (ENOENT)`));
  });

  test('a folder is refused (only a regular file is read: /dev/zero or a FIFO would be read forever)', () => {
    expect(() => loadDictionary([dir])).toThrow(new DictionaryError(`${dir}: cannot read (a folder, not a regular file)`));
  });

  test('as many unknown keywords as known ones still load, with a warning each', () => {
    expect(load('half', ['FOO 1', 'ATTRIBUTE A 1 string', 'BAR 2', 'FLAGS internal'])).toBe('loaded');
  });

  describe('errors and warnings begin with who named the file (the config key)', () => {
    const origin = '/etc/radotp/radotp.yaml: radius.dictionaries.0';
    const loadNamed = (file: string) => loadDictionary([{ file, origin }]);
    // [lines, or undefined for a missing file; the message after "<origin>: <dir>/"]
    test.each([
      [undefined, 'named-0: cannot read (ENOENT)'],
      [['ATTRIBUTE Foo 1'], 'named-1:1: ATTRIBUTE needs: name number type [flags]'],
      [['$INCLUDE nowhere.dict'], 'named-2:1: cannot read dictionary <dir>/nowhere.dict (ENOENT)'],
      [['VALUE Nobody Name 1'], 'named-3:1: VALUE for unknown attribute Nobody'],
      [['\x00'], 'named-4:1: not a text file (control character 0x00)'],
      [['hello world'], 'named-5: not a FreeRADIUS dictionary: 1 of 1 lines start with an unknown keyword (the first: line 1)'],
    ] as const)('%j', (lines, message) => {
      const file = join(dir, message.slice(0, message.indexOf(':')));
      if (lines) writeFileSync(file, lines.join('\n'));
      expect(() => loadNamed(file)).toThrow(new DictionaryError(`${origin}: ${dir}/${message.replace('<dir>', dir)}`));
    });

    test('warnings too', () => {
      const file = join(dir, 'named-warn');
      writeFileSync(file, 'ATRIBUTE Typo 1 string\nATTRIBUTE Fine 2 string\n');
      expect(loadNamed(file).warnings).toEqual([`${origin}: ${file}:1: skipped unknown keyword "ATRIBUTE"`]);
    });
  });

  test('$INCLUDE- of a missing file is not an error', () => {
    expect(load('optional', ['$INCLUDE- not-here', 'ATTRIBUTE A 1 string'])).toBe('loaded');
  });
});
