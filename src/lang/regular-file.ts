import fs from 'node:fs';

/** `file` is not a regular file; the message says what it is ("a FIFO, not a regular file"). */
export class NotRegularFileError extends Error {
  override name = 'NotRegularFileError';
}

/** What `st` is, in words for an error message ("a FIFO", "a folder"…). */
export function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

/**
 * Reads a file an admin names for data: a config file, a CSV. A regular file or a pipe (`-c <(…)`,
 * `user import <(gpg -d users.csv.gpg)`), whose writer ends it; anything else is refused, saying what it is
 * ("a character device, not a regular file or a pipe"): /dev/zero was read until node aborted
 * (std::bad_alloc, exit 134), a folder gave EISDIR. Errors from open keep their `code`.
 */
export function readFileOrPipe(file: string, max: number = MAX_DATA_FILE): Buffer {
  const fd = fs.openSync(file, 'r'); // blocking: a pipe's writer may not have written yet
  try {
    assertFileOrPipe(fs.fstatSync(fd));
    return readAtMost(fd, max);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The most readFileOrPipe reads. A pipe has no end until its writer stops: `radotp -c <(yes) …` read until node
 * ran out of memory. The largest file it is for is a user CSV: 100,000 lines of a username (at most 253 bytes),
 * an argon2id PHC string (about 100 bytes; 200 with large parameters), a method and a token serial come to
 * under 60 MB at their longest and about 15 MB as usual. A config file is a few KiB.
 */
const MAX_DATA_FILE = 64 * 1024 * 1024;

/** More than readFileOrPipe reads; the message goes after the file's name, as an errno code does. */
export class FileTooLargeError extends Error {
  override name = 'FileTooLargeError';
}

/**
 * `fd` to its end, or FileTooLargeError as soon as it holds more than `max` bytes (a file or a pipe alike; the
 * CLI's secrets on standard input too).
 */
export function readAtMost(fd: number, max: number): Buffer {
  const chunks: Buffer[] = [];
  // One read buffer, and a copy of what each read returned: a pipe returns ~64 KiB a read, so keeping a
  // slice of a fresh 1 MiB buffer per read held 16 times the data in memory.
  const buffer = Buffer.allocUnsafe(Math.min(1024 * 1024, max + 1));
  let total = 0;
  for (;;) {
    const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, max + 1 - total), null);
    if (n === 0) return Buffer.concat(chunks, total);
    total += n;
    if (total > max) throw new FileTooLargeError(`larger than ${max / (1024 * 1024)} MiB; is it the right file?`);
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
}

/** Throws NotRegularFileError unless `st` is a regular file or a pipe (what readFileOrPipe reads). */
export function assertFileOrPipe(st: fs.Stats): void {
  if (!st.isFile() && !st.isFIFO()) throw new NotRegularFileError(`${kindOf(st)}, not a regular file or a pipe`);
}

/**
 * Reads a file that must be a regular file (a symlink to one is fine), for small files named by an admin:
 * key files. /dev/zero would be read until memory runs out, and a FIFO would wait for a writer forever.
 * Opened non-blocking (which changes nothing for a regular file) and checked with fstat, so what is
 * checked is what is read. Errors from open keep their `code` (ENOENT, EACCES...).
 */
export function readRegularFile(file: string): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new NotRegularFileError(`${kindOf(st)}, not a regular file`);
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
