import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectKind } from './expect-kind';
import { isPskcError, readPskc, streamPskcFile, writePskc, type PskcError } from '../../src/pskc';

/*
 * PSKC files are read as strict UTF-8. Before, invalid bytes became U+FFFD: an ISO-8859-1 file and a
 * corrupted one both imported with mangled serials, and different bytes collapsed into the same serial.
 * Both readers are checked: readPskc (a Buffer) and streamPskcFile (chunks from a file).
 */

const HOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:hotp';
const dir = mkdtempSync(join(tmpdir(), 'radotp-utf8-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** writePskc's UTF-8 document with SerialNo `marker`, as text to be encoded by the case. */
function documentText(serial: string, declaration = '<?xml version="1.0" encoding="UTF-8"?>'): string {
  const xml = writePskc([{ serial, algorithm: HOTP, digits: 6, secret: randomBytes(20) }], { kind: 'plain' });
  return xml.replace('<?xml version="1.0" encoding="UTF-8"?>', declaration);
}

/** The document's bytes with `serialBytes` spliced in for the serial placeholder. */
function withSerialBytes(serialBytes: Buffer, declaration?: string): Buffer {
  const [before, after] = documentText('@@', declaration).split('@@');
  return Buffer.concat([Buffer.from(before), serialBytes, Buffer.from(after)]);
}

async function streamed(bytes: Buffer): Promise<string[]> {
  const file = join(dir, `${randomBytes(4).toString('hex')}.xml`);
  writeFileSync(file, bytes);
  const serials: string[] = [];
  for await (const key of streamPskcFile(file)) serials.push(key.serial ?? '');
  return serials;
}

async function streamError(bytes: Buffer): Promise<PskcError> {
  try {
    await streamed(bytes);
  } catch (error) {
    if (isPskcError(error)) return error;
    throw error;
  }
  throw new Error('the file was read');
}

// [what, the file's bytes, the detail, the line]
const REFUSED: [string, Buffer, RegExp, number][] = [
  // The é (0xE9) is met while decoding, before the scanner reads the declaration.
  ['ISO-8859-1, declared', Buffer.from(documentText('FZé', '<?xml version="1.0" encoding="ISO-8859-1"?>'), 'latin1'), /^not UTF-8: invalid byte sequence/, 3],
  ['ASCII that declares ISO-8859-1', Buffer.from(documentText('FZ1', '<?xml version="1.0" encoding="ISO-8859-1"?>')), /^not UTF-8: the file declares encoding "ISO-8859-1"/, 1],
  ['ASCII that declares windows-1252', Buffer.from(documentText('FZ1', "<?xml version='1.0' encoding='windows-1252'?>")), /declares encoding "windows-1252"/, 1],
  ['a 0xFF byte in the serial', withSerialBytes(Buffer.from([0x46, 0x5a, 0xff])), /^not UTF-8: invalid byte sequence/, 3],
  ['a 0xFE byte in the serial', withSerialBytes(Buffer.from([0x46, 0x5a, 0xfe])), /^not UTF-8: invalid byte sequence/, 3],
  ['ISO-8859-1 without a declaration', withSerialBytes(Buffer.from('FZé', 'latin1'), ''), /^not UTF-8: invalid byte sequence/, 3],
  ['an overlong encoding of "/"', withSerialBytes(Buffer.from([0xc0, 0xaf])), /^not UTF-8/, 3],
  ['UTF-16 with its byte-order mark', Buffer.from(`\ufeff${documentText('FZ1', '<?xml version="1.0" encoding="UTF-16"?>')}`, 'utf16le'), /^not UTF-8/, 1],
  ['a sequence cut off at the end', Buffer.concat([Buffer.from(documentText('FZ1')), Buffer.from([0xc3])]), /^not UTF-8/, 5],
];

describe.each(REFUSED)('%s', (_what, bytes, detail, line) => {
  test('readPskc: not_utf8, with the line', () => {
    const error = expectKind(() => readPskc(bytes), 'not_utf8');
    expect([error.detail, error.line]).toEqual([expect.stringMatching(detail), line]);
  });

  test('streamPskcFile: the same', async () => {
    const error = await streamError(bytes);
    expect([error.kind, error.detail, error.line]).toEqual(['not_utf8', expect.stringMatching(detail), line]);
  });
});

test.each([
  ['encoding="UTF-8"', '<?xml version="1.0" encoding="UTF-8"?>'],
  ["encoding='utf-8'", "<?xml version='1.0' encoding='utf-8'?>"],
  ['no encoding', '<?xml version="1.0"?>'],
  ['no declaration', ''],
])('UTF-8 with %s reads, non-ASCII intact', async (_what, declaration) => {
  const bytes = Buffer.from(`\ufeff${documentText('Nº-é-😀', declaration)}`);
  expect(readPskc(bytes).keys[0].serial).toBe('Nº-é-😀');
  expect(await streamed(bytes)).toEqual(['Nº-é-😀']);
});

test('a character split across two 256 KiB read chunks streams intact', async () => {
  const text = documentText('FZ-é');
  const at = text.indexOf('FZ-é') + 3; // the offset of é
  const padding = 256 * 1024 - at - 1; // é's two bytes end up on either side of the first chunk's end
  const bytes = Buffer.from(text.replace('<pskc:KeyPackage>', `<!--${'x'.repeat(padding - 7)}--><pskc:KeyPackage>`));
  expect(bytes.indexOf(Buffer.from('é'))).toBe(256 * 1024 - 1);
  expect(await streamed(bytes)).toEqual(['FZ-é']);
});
