import { randomBytes } from 'node:crypto';
import { expectKind } from './expect-kind';
import { readPskc, writePskc, type WritableKey } from '../../src/pskc';

/*
 * Integer Data values a token can hold (RFC 6030 §11 schema: Counter xs:long, Time, TimeInterval and
 * TimeDrift xs:int; RFC 4226 §5.1: the counter is unsigned). A value outside its range refuses the
 * file at the key, naming the field; before, -5 imported as a counter no login could use and
 * 99999999999999999999999 failed in PostgreSQL with an error naming nothing.
 */

const HOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:hotp';

function keyWith(field: string, text: string): { xml: string; key: WritableKey } {
  const key: WritableKey = { serial: `SN-${randomBytes(3).toString('hex')}`, algorithm: HOTP, digits: 6, secret: randomBytes(20) };
  const xml = writePskc([key], { kind: 'plain' }).replace('</pskc:Data>', `<pskc:${field}><pskc:PlainValue>${text}</pskc:PlainValue></pskc:${field}></pskc:Data>`);
  return { xml, key };
}

const FIELD_OF: Record<string, 'counter' | 'time' | 'timeInterval' | 'timeDrift'> = {
  Counter: 'counter',
  Time: 'time',
  TimeInterval: 'timeInterval',
  TimeDrift: 'timeDrift',
};

// [element, value as written, what the key holds]
const ACCEPTED: [string, string, bigint | number][] = [
  ['Counter', '0', 0n],
  ['Counter', '9223372036854775807', 2n ** 63n - 1n], // the largest the bigint column holds
  ['Counter', Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).toString('base64'), 2n ** 63n - 1n], // binary form
  ['Time', '2147483647', 2n ** 31n - 1n],
  ['Time', '0', 0n],
  ['TimeInterval', '30', 30],
  ['TimeDrift', '-4', -4],
  ['TimeDrift', '-2147483648', -(2 ** 31)],
];

// [element, value as written, expected detail]
const REFUSED: [string, string, RegExp][] = [
  ['Counter', '-5', /^Counter -5 is out of range \(0 to 9223372036854775807\)$/],
  ['Counter', '-1', /^Counter -1 is out of range/],
  ['Counter', '9223372036854775808', /^Counter 9223372036854775808 is out of range/],
  ['Counter', '99999999999999999999999', /^Counter 99999999999999999999999 is out of range/],
  ['Counter', Buffer.alloc(9, 0xff).toString('base64'), /^Counter \d+ is out of range/], // a 9-byte binary number
  ['Counter', '1'.repeat(5000), /^Counter is out of range: 1{40}…$/], // refused before BigInt() parses 5000 digits
  ['Counter', '1.5', /^Counter is not an integer/],
  ['Time', '2147483648', /^Time 2147483648 is out of range \(-2147483648 to 2147483647\)$/],
  ['TimeInterval', '4294967296', /^TimeInterval 4294967296 is out of range/],
  ['TimeDrift', '2147483648', /^TimeDrift 2147483648 is out of range/],
  ['TimeDrift', '-2147483649', /^TimeDrift -2147483649 is out of range/],
];

test.each(ACCEPTED)('%s %s reads as %p', (element, text, expected) => {
  const { xml } = keyWith(element, text);
  expect(readPskc(xml).keys[0][FIELD_OF[element]]).toBe(expected);
});

/** Long values are named by their length in the test title. */
const titled = (text: string): string => (text.length > 30 ? `${text.slice(0, 12)}… (${text.length} chars)` : text);

test.each(REFUSED.map(([element, text, detail]) => [element, titled(text), text, detail] as const))('%s %s is refused: invalid_integer, located at the key', (element, _title, text, detail) => {
  const { xml, key } = keyWith(element, text);
  const error = expectKind(() => readPskc(xml), 'invalid_integer');
  expect(error.detail).toMatch(detail);
  expect(error.message).toMatch(new RegExp(`^key 0 \\(serial ${key.serial}\\), line \\d+: `));
});
