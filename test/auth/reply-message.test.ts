import { replyMessageAttributes } from '../../src/auth/reply-message';
import { Attr } from '../../src/radius/types';

// [case, text, octets of each Reply-Message attribute]
const cases: [string, string, number[]][] = [
  ['short ASCII', 'Enter the code', [14]],
  ['exactly 253 octets', 'a'.repeat(253), [253]],
  ['one octet more: a second attribute', 'a'.repeat(254), [253, 1]],
  ['two-octet characters never split: 126 fit, the 127th starts the next', 'é'.repeat(127), [252, 2]],
  ['a three-octet character at the boundary moves whole', 'a'.repeat(251) + '€', [251, 3]],
  ['a four-octet character (a surrogate pair in JavaScript) at the boundary moves whole', 'a'.repeat(250) + '🔑' + 'b', [250, 5]],
  ['no text, no attribute', '', []],
  // Some NASes show each Reply-Message on a line of its own (radcli joins them with newlines), some show only
  // the first: a cut between words shows "authenticator" whole, one inside a word shows "authentic" / "ator".
  ['words: cut after the last blank that fits, which stays with the first part', 'word '.repeat(60), [250, 50]],
  ['a blank at the very boundary: cut right after it', 'a'.repeat(252) + ' bc', [253, 2]],
  ['a blank just past the boundary: cut after the blank before it', 'ab '.repeat(84) + 'cd', [252, 2]],
  ['two-octet words', 'éé '.repeat(60), [250, 50]],
  ['a word longer than an attribute still goes, cut at a character boundary', 'go ' + 'x'.repeat(300), [3, 253, 47]],
  ['a cut at the blank would leave too much for the next attribute: cut at the character', ' ' + 'a'.repeat(250) + '🔑', [251, 4]],
];

test.each(cases)('%s', (_case, text, sizes) => {
  const attrs = replyMessageAttributes(text);
  expect(attrs.map((a) => a.value.length)).toEqual(sizes);
  for (const a of attrs) {
    expect(a.type).toBe(Attr.ReplyMessage);
    // every attribute alone is valid UTF-8 (a NAS may decode them one by one)
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(a.value)).not.toThrow();
  }
  expect(Buffer.concat(attrs.map((a) => a.value)).toString('utf8')).toBe(text);
});
