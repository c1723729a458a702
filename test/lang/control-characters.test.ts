import { hasControlCharacter, printable } from '../../src/lang/control-characters';

/*
 * What reaches an admin's terminal from outside (a User-Name in `radotp audit`, a name in an error message) is
 * shown as it is, except what a terminal would act on or reorder: C0 and DEL, and also the C1 controls (U+0080-U+009F:
 * U+009B is CSI, which xterm acts on as ESC [ does), the line and paragraph separators, and the bidi overrides and
 * isolates (U+202E shows "eve<RLO>nimda" as "eveadmin"). An admin cannot type one into a name either.
 */

// [what, text, as printed]
const cases: [string, string, string][] = [
  ['plain text', 'alice', 'alice'],
  ['letters beyond ASCII', 'Zoë Müller 李', 'Zoë Müller 李'],
  ['a line break', 'a\nb', 'a\\nb'],
  ['ESC', 'a\x1b[2Jb', 'a\\x1b[2Jb'],
  ['NUL', 'a\0b', 'a\\x00b'],
  ['DEL', 'a\x7fb', 'a\\x7fb'],
  ['C1 CSI', 'a\u009b2Jb', 'a\\x9b2Jb'],
  ['C1 NEL', 'a\u0085b', 'a\\x85b'],
  ['the line separator', 'a\u2028b', 'a\\u2028b'],
  ['the paragraph separator', 'a\u2029b', 'a\\u2029b'],
  ['a right-to-left override', 'eve\u202enimda', 'eve\\u202enimda'],
  ['a left-to-right embedding', 'a\u202ab', 'a\\u202ab'],
  ['a first-strong isolate', 'a\u2068b\u2069', 'a\\u2068b\\u2069'],
];

test.each(cases)('%s', (_what, text, shown) => {
  expect(printable(text)).toBe(shown);
  expect(hasControlCharacter(text)).toBe(text !== shown);
});

test('U+00A0 (no-break space) and U+00FF are letters and spaces, not controls', () => {
  expect(printable('a\u00a0\u00ffb')).toBe('a\u00a0\u00ffb');
  expect(hasControlCharacter('a\u00a0\u00ffb')).toBe(false);
});
