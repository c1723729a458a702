import { appendHashCost, appendText, codeSplits } from '../../src/auth/append-split';

// [typed field, code lengths, the splits (longest first), the hashes a wrong login with it costs]
const cases: [string, number[], number[], number][] = [
  ['secret123456', [6], [6], 1],
  ['secret12345678', [6, 8], [8, 6], 2],
  ['secret12345678', [8, 6, 8, 6], [8, 6], 2],
  ['secret1234567', [6, 8], [6], 1],
  ['12345678', [6, 8], [6], 1], // 8 digits and nothing before them: no password, so no 8-digit split
  ['123456', [6], [], 1], // the whole field is a code: checked whole as the password
  ['secret', [6, 8], [], 1],
  ['', [6], [], 1],
  ['secret123456  ', [6], [6], 1], // whitespace after the code is not the code's
  ['secret 123456', [6], [6], 1],
  ['secret12345a', [6], [], 1],
  ['pässwört١٢٣٤٥٦', [6], [], 1], // Arabic-Indic digits are not a code
  ['pässwört123456', [6], [6], 1],
  ['x1234567890', [6, 7, 8, 10], [10, 8, 7, 6], 4],
  ['secret123456', [], [], 1],
];

test.each(cases)('%j split at %j: %j, a wrong login costs %d hashes', (typed, lengths, splits, cost) => {
  expect(codeSplits(appendText(Buffer.from(typed, 'utf8')), lengths)).toEqual(splits);
  expect(appendHashCost(Buffer.from(typed, 'utf8'), lengths)).toBe(cost);
});

test("the user's own lengths count with the deployment's, once each", () => {
  expect(appendHashCost(Buffer.from('x12345678'), [6], [8])).toBe(2);
  expect(appendHashCost(Buffer.from('x12345678'), [6, 8], [8, 6])).toBe(2);
  expect(appendHashCost(undefined, [6, 8])).toBe(1);
});
