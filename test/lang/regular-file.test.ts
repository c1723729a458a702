import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFileOrPipe } from '../../src/lang/regular-file';

/*
 * readFileOrPipe reads a config file (`-c`) or a user CSV, from a pipe too. It had no bound: `radotp -c <(yes)`
 * read until node ran out of memory. It reads up to 64 MiB (a 100,000-user CSV with argon2id hashes is well
 * under), and refuses more in words the callers put after the file's name.
 */

const MiB = 1024 * 1024;
let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-read-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A sparse regular file of `size` bytes: no disk written. */
function sparseFile(name: string, size: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, '');
  fs.truncateSync(file, size);
  return file;
}

/** What readFileOrPipe does with a FIFO whose writer sends `size` bytes (or more: it is stopped after). */
async function readFromPipe(name: string, size: number): Promise<Buffer | Error> {
  const fifo = path.join(dir, name);
  execFileSync('mkfifo', [fifo]);
  const writer = spawn('sh', ['-c', `head -c ${size} /dev/zero > "$0"`, fifo], { stdio: 'ignore' });
  const exited = new Promise((resolve) => writer.on('close', resolve));
  let result: Buffer | Error;
  try {
    result = readFileOrPipe(fifo);
  } catch (e) {
    result = e as Error;
  }
  writer.kill(); // a writer we stopped reading from
  await exited;
  return result;
}

test('64 MiB is read, from a file and from a pipe', async () => {
  expect(readFileOrPipe(sparseFile('max.csv', 64 * MiB)).length).toBe(64 * MiB);
  expect(((await readFromPipe('max.fifo', 64 * MiB)) as Buffer).length).toBe(64 * MiB);
});

test('more than 64 MiB is refused, from a file and from a pipe', async () => {
  expect(() => readFileOrPipe(sparseFile('big.csv', 64 * MiB + 1))).toThrow(/^larger than 64 MiB; is it the right file\?$/);
  const piped = await readFromPipe('big.fifo', 64 * MiB + 1);
  expect(piped).toBeInstanceOf(Error);
  expect((piped as Error).message).toBe('larger than 64 MiB; is it the right file?');
});
