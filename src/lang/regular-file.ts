import fs from 'node:fs';

/** `file` is not a regular file; the message says what it is ("a FIFO, not a regular file"). */
export class NotRegularFileError extends Error {
  override name = 'NotRegularFileError';
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
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
