import { randomBytes } from 'node:crypto';
import { expectKind } from './expect-kind';
import { isPskcError, readPskc, writePskc, type PskcError } from '../../src/pskc';
import { XmlScanner, type ScanEvent } from '../../src/pskc/xml-scanner';

/*
 * The streaming scanner's work and memory. Before, every chunk re-joined and re-searched everything
 * since the start of the current construct (a 300 MB comment: 235 s, 3 GB), and only KeyPackage
 * children had a size limit. No test here measures time: `examined` counts the characters the
 * scanner searched, which grew with the square of the chunk count.
 */

const LIMIT = 1024 * 1024;
const HOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:hotp';
const ROOT = '<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">';
const PACKAGE = '<KeyPackage><Key Id="k" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp"/></KeyPackage>';

function scanner(): XmlScanner {
  return new XmlScanner({ maxBytes: 64 * LIMIT, maxChildBytes: LIMIT });
}

/** Feeds `parts` one push each; returns the events and the characters examined. */
function scanParts(parts: Iterable<string>): { events: ScanEvent[]; examined: number; length: number } {
  const s = scanner();
  const events: ScanEvent[] = [];
  let length = 0;
  for (const part of parts) {
    length += part.length;
    events.push(...s.push(part));
  }
  events.push(...s.finish());
  return { events, examined: s.examined, length };
}

/** `count` chunks of `size` characters of filler between `open` and `close`, inside a document. */
function* chunked(before: string, open: string, filler: string, close: string, after: string, count: number, size: number): Generator<string> {
  yield before + open;
  for (let i = 0; i < count; i++) yield filler.repeat(size / filler.length);
  yield close + after;
}

// [construct, what goes around the filler, the filler]
const LONG_CONSTRUCTS: [string, (count: number, size: number) => Generator<string>][] = [
  ['a comment between KeyPackages', (n, size) => chunked(ROOT, '<!--', 'x', '-->', `${PACKAGE}</KeyContainer>`, n, size)],
  ['a comment inside a KeyPackage', (n, size) => chunked(`${ROOT}<KeyPackage>`, '<!--', 'x', '-->', `</KeyPackage></KeyContainer>`, n, size)],
  ['a processing instruction', (n, size) => chunked(ROOT, '<?pi ', 'x', '?>', `${PACKAGE}</KeyContainer>`, n, size)],
  ['an attribute of the root', (n, size) => chunked('<KeyContainer Version="1.0" ', 'a="', 'x>', '"', ` xmlns="urn:ietf:params:xml:ns:keyprov:pskc">${PACKAGE}</KeyContainer>`, n, size)],
  ['text inside a KeyPackage', (n, size) => chunked(`${ROOT}<KeyPackage><X>`, '', 'y', '', '</X></KeyPackage></KeyContainer>', n, size)],
];

describe.each(LONG_CONSTRUCTS)('%s arriving in many chunks', (_what, parts) => {
  test('each character is examined a bounded number of times, whatever the chunk count', () => {
    for (const count of [100, 800]) {
      const { examined, length } = scanParts(parts(count, 1000)); // 800 000 characters: under the limit
      expect(examined).toBeLessThan(4 * length); // was about count/2 times the length
    }
  });

  test('over the limit it is refused while arriving, before the rest is buffered', () => {
    const s = scanner();
    let pushed = 0;
    let error: unknown;
    try {
      for (const part of parts(2000, 1000)) {
        pushed += part.length;
        s.push(part);
      }
      s.finish();
    } catch (e) {
      error = e;
    }
    expect(isPskcError(error)).toBe(true);
    expect((error as PskcError).kind).toBe('too_large');
    expect((error as PskcError).detail).toMatch(/exceeds the 1048576-byte limit$/);
    expect((error as PskcError).line).toBe(1);
    expect(pushed).toBeLessThan(LIMIT + 10_000);
  });

  test('the same document pushed at once is refused as well (readPskc pushes once)', () => {
    expect(() => scanParts([[...parts(2000, 1000)].join('')])).toThrow(/exceeds the 1048576-byte limit/);
  });
});

// [construct, the document, the detail] — refused with the construct named
const NAMED: [string, string, RegExp][] = [
  ['comment', `${ROOT}<!--${'x'.repeat(LIMIT)}-->${PACKAGE}</KeyContainer>`, /^comment exceeds/],
  ['processing instruction', `<?pi ${'x'.repeat(LIMIT)}?>${ROOT}${PACKAGE}</KeyContainer>`, /^processing instruction exceeds/],
  ['root start tag', `<KeyContainer a="${'x'.repeat(LIMIT)}" Version="1.0">${PACKAGE}</KeyContainer>`, /^start tag exceeds/],
];

test.each(NAMED)('a %s over the limit is named, in chunks and at once', (_what, xml, detail) => {
  for (const size of [64 * 1024, xml.length]) {
    const parts = Array.from({ length: Math.ceil(xml.length / size) }, (_, i) => xml.slice(i * size, (i + 1) * size));
    expect(() => scanParts(parts)).toThrow(expect.objectContaining({ kind: 'too_large', detail: expect.stringMatching(detail) }));
  }
});

test('chunk boundaries anywhere (in terminators, quotes, tags) give the same events as one push', () => {
  const keys = [0, 1].map((i) => ({ serial: `S${i}`, algorithm: HOTP, digits: 6, secret: randomBytes(20), counter: BigInt(i), issuer: 'a"b\'c>d' }));
  const xml = writePskc(keys, { kind: 'plain' })
    .replace('<pskc:KeyPackage>', '<!-- a -- b -> c --><?pi x?y>z?><pskc:KeyPackage>')
    .replace('</pskc:Issuer>', '<![CDATA[ ]] > ]]]]></pskc:Issuer>')
    .replace('<pskc:Key ', "<pskc:Key Note='>\"<!--' ");
  const whole = scanParts([xml]).events;
  expect(whole.filter((e) => e.type === 'child')).toHaveLength(2);
  for (const size of [1, 2, 3, 5, 8, 13, 64]) {
    const parts = Array.from({ length: Math.ceil(xml.length / size) }, (_, i) => xml.slice(i * size, (i + 1) * size));
    expect([size, scanParts(parts).events]).toEqual([size, whole]);
  }
});

test('an unterminated comment split over chunks is still reported as such', () => {
  expect(() => scanParts([ROOT, '<!-- never', ' closed -', '-'])).toThrow(/unterminated comment/);
});

describe('nesting depth', () => {
  const nested = (depth: number): string => `${ROOT}\n${'<a>'.repeat(depth - 1)}${'</a>'.repeat(depth - 1)}</KeyContainer>`;

  test('64 levels (the root included) scan', () => {
    expect(scanParts([nested(64)]).events.map((e) => e.type)).toEqual(['root', 'child', 'end']);
  });

  // Before, readPskc and the import met fast-xml-parser's bare Error "Maximum nested tags exceeded": no file, no line.
  test.each([65, 100_000])('%d levels are refused as too_large, with the line', (depth) => {
    const error = expectKind(() => readPskc(nested(depth)), 'too_large');
    expect([error.detail, error.line]).toEqual(['elements nested deeper than 64 levels', 2]);
  });
});
