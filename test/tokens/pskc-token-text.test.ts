import { randomBytes } from 'node:crypto';
import { readPskc, writePskc, type PskcKey, type WritableKey } from '../../src/pskc';
import { TokenImportError, tokenFromPskc } from '../../src/tokens/pskc-import';

/*
 * Text a key brings into the token table is printed later by `token list` and the audit log. A control
 * character there either failed in PostgreSQL with an error naming no key (NUL) or reached an operator's
 * terminal raw (ESC sequences). XML itself already refuses C0 controls but TAB, LF and CR (see
 * test/pskc/xml-text.test.ts); these are the XML-legal ones, written as they would arrive.
 */

const HOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:hotp';

function keyOf(overrides: Partial<WritableKey>): PskcKey {
  const key: WritableKey = { serial: `SN-${randomBytes(3).toString('hex')}`, algorithm: HOTP, digits: 6, secret: randomBytes(20), counter: 0n, ...overrides };
  return readPskc(writePskc([key], { kind: 'plain' })).keys[0];
}

function refusal(key: PskcKey): string {
  try {
    tokenFromPskc(key);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenImportError);
    return (error as Error).message;
  }
  throw new Error('the key was accepted');
}

// [what, the key's fields, the reason]
const REFUSED: [string, Partial<WritableKey>, RegExp][] = [
  ['DEL in the serial', { serial: 'SN\u007f1' }, /: serial contains the control character U\+007F, which would be stored and printed by token list$/],
  ['a C1 CSI in the serial', { serial: 'SN\u009b31m' }, /: serial contains the control character U\+009B/],
  ['a TAB in the serial (&#9;)', { serial: 'SN\t1' }, /: serial contains the control character U\+0009/],
  ['a line feed in the serial (&#10;)', { serial: 'SN\n1' }, /: serial contains the control character U\+000A/],
  ['a C1 NEL in the key Id used as serial', { serial: undefined, id: 'K\u00851' }, /: serial contains the control character U\+0085/],
  ['DEL in the Manufacturer', { manufacturer: 'Acme\u007f' }, /: Manufacturer contains the control character U\+007F/],
  ['a C1 control in the Issuer', { issuer: 'Bank\u0090' }, /: Issuer contains the control character U\+0090/],
  // shown reversed in a terminal: "SN<RLO>1-ABC" reads as "SNCBA-1" (it was imported)
  ['a right-to-left override in the serial', { serial: 'SN\u202e1-ABC' }, /: serial contains the control character U\+202E/],
  ['a line separator in the Manufacturer', { manufacturer: 'a\u2028b' }, /: Manufacturer contains the control character U\+2028/],
  ['a 129-character serial', { serial: 'S'.repeat(129) }, /: serial longer than 128 characters$/],
  ['a 257-character Manufacturer', { manufacturer: 'M'.repeat(257) }, /: Manufacturer longer than 256 characters$/],
];

test.each(REFUSED)('%s is refused, naming the key', (_what, fields, reason) => {
  const message = refusal(keyOf(fields));
  expect(message).toMatch(reason);
  expect(message).toMatch(/^key 0\b.*, line \d+: /);
  expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/); // the message itself stays one inert line
});

test('plain non-ASCII text is fine', () => {
  const token = tokenFromPskc(keyOf({ serial: 'Nº-0042-é', manufacturer: 'Tokens & Co <Zürich>', issuer: '銀行' }));
  expect([token.serial, token.manufacturer, token.issuer]).toEqual(['Nº-0042-é', 'Tokens & Co <Zürich>', '銀行']);
});

test('a 100 KB serial is echoed as its first 40 characters, not 100 KB', () => {
  const message = refusal(keyOf({ serial: `${'S'.repeat(100_000)}` }));
  expect(message).toBe(`key 0 (serial ${'S'.repeat(40)}…), line 3: serial longer than 128 characters`);
});

test('an escape sequence in an echoed value is written out, not sent to the terminal', () => {
  // The unusable reason quotes the algorithm URI; DEL and C1 are legal XML, so they arrive here.
  const message = refusal(keyOf({ algorithm: 'urn:x:\u009b31m\u007f' }));
  expect(message).toContain('algorithm urn:x:\\x9b31m\\x7f is not HOTP, TOTP or OCRA');
});
