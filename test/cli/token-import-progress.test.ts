import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { progressTotal } from '../../cli/commands/token-import';
import { writePskc } from '../../src/pskc';
import { hotpKey } from '../support/pskc-fixtures';

/*
 * On a terminal, `radotp token import` first counts the file's KeyPackages for its progress bar, then
 * imports it. A file that can be read only once (a pipe: `token import <(gpg -d tokens.pskc.gpg)` or
 * /dev/stdin) was drained by the count, and the import then found no document at all ("malformed XML:
 * no root element"), but only when run by hand, never in a script. Only a regular file is counted now.
 */

let dir: string;
let file: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-progress-'));
  file = path.join(dir, 'tokens.pskc');
  fs.writeFileSync(file, writePskc([hotpKey(), hotpKey(), hotpKey()], { kind: 'plain' }));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the progress bar counts keys only where that reads nothing the import needs', () => {
  // [file, total counted, whether a bar is drawn (a terminal, no --json)]
  const cases: [string, number, boolean][] = [
    ['a regular file, on a terminal', 3, true],
    ['a regular file, with --json or off a terminal', 0, false],
  ];
  test.each(cases)('%s: %d', (_name, total, bar) => {
    expect(progressTotal(file, bar)).toBe(total);
  });

  test('a pipe, on a terminal: no count, and every byte left for the import', async () => {
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, fifo], { stdio: 'ignore' });
    try {
      expect(progressTotal(fifo, true)).toBe(0);
      expect(await fs.promises.readFile(fifo, 'utf8')).toBe(fs.readFileSync(file, 'utf8'));
    } finally {
      writer.kill();
    }
  });
});
