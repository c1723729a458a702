import { randomBytes } from 'node:crypto';
import { expectKind } from './expect-kind';
import { readPskc, writePskc } from '../../src/pskc';

/*
 * Characters and references in PSKC text. Without a DTD (refused) only the five predefined entities
 * and character references exist (XML 1.0 §4.1 WFC "Entity Declared"); a reference or a raw character
 * must be an XML Char (§2.2: no NUL, no C0 control but TAB, LF, CR). Before, `&xxe;` imported as the
 * literal text "&xxe;", `&#0;` reached PostgreSQL ("invalid byte sequence") and a raw ESC reached
 * `token list`.
 */

const HOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:hotp';
const MARKER = 'SERIAL-MARKER';

/** A one-key document whose SerialNo is `serialXml`, written as is (no escaping). */
function withSerial(serialXml: string): string {
  return writePskc([{ serial: MARKER, algorithm: HOTP, digits: 6, secret: randomBytes(20) }], { kind: 'plain' }).replace(MARKER, serialXml);
}

// [what, SerialNo as written, the serial read]
const ACCEPTED: [string, string, string][] = [
  ['predefined entities and character references', 'A&amp;B&#x41;&#65;&lt;&gt;&quot;&apos;', 'A&BAA<>"\''],
  ['a character reference beyond the BMP', 'FZ&#x1F600;', 'FZ😀'],
  ['CDATA, taken literally', '<![CDATA[A&B &amp; <x>]]>', 'A&B &amp; <x>'],
  ['CDATA between text', 'A&amp;<![CDATA[&]]>B', 'A&&B'],
  ['a C1 control (legal XML; the import refuses it)', 'FZ\u0085', 'FZ\u0085'],
];

// [what, the document, the detail, its line (writePskc puts the KeyPackage on line 3)]
const REFUSED: [string, string, RegExp, number][] = [
  ['an undefined entity', withSerial('&xxe;'), /undefined entity &xxe; \(only &lt; &gt; &amp; &quot; &apos; and character references exist without a DTD\)/, 3],
  ['an undefined entity in an attribute', withSerial('S1').replace('<pskc:Key ', '<pskc:Key Id="&foo;" '), /undefined entity &foo;/, 3],
  ['an HTML entity', withSerial('FZ&nbsp;1'), /undefined entity &nbsp;/, 3],
  ['a bare ampersand', withSerial('A&B'), /'&' that starts no entity or character reference|char '&' is not expected/, 3],
  ['&#0; (NUL)', withSerial('FZ&#0;'), /character reference &#0; is not an XML character/, 3],
  ['&#x1B; (ESC)', withSerial('FZ&#x1B;[31m'), /character reference &#x1B; is not an XML character/, 3],
  ['a surrogate', withSerial('&#xD800;'), /character reference &#xD800; is not an XML character/, 3],
  ['beyond U+10FFFF', withSerial('&#99999999;'), /character reference &#99999999; is not an XML character/, 3],
  ['a raw ESC', withSerial('FZ\u001b[31m'), /character U\+001B is not allowed in an XML document/, 3],
  ['a raw NUL after the root', `${withSerial('S1')}\u0000`, /character U\+0000 is not allowed/, 5],
  ['U+FFFF', withSerial('FZ\uffff'), /character U\+FFFF is not allowed/, 3],
];

test.each(ACCEPTED)('%s: %s reads as %p', (_what, serialXml, serial) => {
  expect(readPskc(withSerial(serialXml)).keys[0].serial).toBe(serial);
});

test.each(REFUSED)('%s is malformed XML, with its line', (_what, xml, detail, line) => {
  const error = expectKind(() => readPskc(xml), 'malformed_xml');
  expect(error.detail).toMatch(detail);
  expect(error.line).toBe(line);
});

test('a reference is echoed clipped', () => {
  const error = expectKind(() => readPskc(withSerial(`&${'x'.repeat(5000)};`)), 'malformed_xml');
  expect(error.message.length).toBeLessThan(200);
});
