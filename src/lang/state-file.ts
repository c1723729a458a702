import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import type { FileOwner } from './folder-owner';
import { kindOf } from './regular-file';

/*
 * Reading the small files radotp keeps for itself in its data folder (postgres.password, postgres.port, the start
 * lock, a registration, the cluster's postmaster.pid). As root (`sudo radotp …`) that folder may be a service
 * account's, who can put anything there: a symlink to /etc/shadow as postgres.password was read by root and sent
 * as the password to a server of their choosing, a FIFO hung root's command, /dev/zero or a huge file was read
 * into memory. radotp only ever makes these as small regular files, so anything else is refused, saying which
 * file and what is wrong with it; what is checked is the descriptor that is then read (fstat(2) after open(2)),
 * so the file cannot be swapped in between.
 */

export class StateFileError extends Error {
  override name = 'StateFileError';
}

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = constants;

/**
 * The text of `path`, at most `maxBytes` long. Refused (StateFileError): a symlink ("If the trailing component
 * (i.e., basename) of pathname is a symbolic link, then the open fails", open(2)), anything but a regular file
 * (O_NONBLOCK: a FIFO with no writer does not block the open), more than `maxBytes`, and, when `owner` is set
 * (root in another user's folder, see folder-owner.ts), a file that is neither theirs nor only root's.
 * Errors from open keep their `code` (ENOENT: no such file).
 */
export function readStateFile(path: string, owner: FileOwner | undefined, maxBytes: number): string {
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new StateFileError(`${path} is a symbolic link; radotp does not read through one`, { cause: e });
    throw e;
  }
  try {
    return readStateFd(fd, path, owner, maxBytes);
  } finally {
    closeSync(fd);
  }
}

/** readStateFile's checks and read, on a descriptor already open for reading (from its start). */
export function readStateFd(fd: number, path: string, owner: FileOwner | undefined, maxBytes: number): string {
  checkStateFile(fstatSync(fd), path, owner, maxBytes);
  const buffer = Buffer.alloc(maxBytes + 1);
  let total = 0;
  for (;;) {
    const n = readSync(fd, buffer, total, buffer.length - total, total);
    if (n === 0) break;
    total += n;
    // It grew between fstat and read.
    if (total > maxBytes) throw tooLarge(path, maxBytes);
  }
  return buffer.subarray(0, total).toString('utf8');
}

/**
 * Whether `st` (of an open descriptor, never of a path) is a file radotp could have made at `path`: a regular file
 * of at most `maxBytes` (when given); with `owner`, one that is theirs, or root's and linked nowhere else.
 */
export function checkStateFile(st: Stats, path: string, owner: FileOwner | undefined, maxBytes?: number): void {
  if (!st.isFile()) throw new StateFileError(`${path} is ${kindOf(st)}, not a regular file`);
  if (owner !== undefined) {
    if (st.uid !== owner.uid && st.uid !== 0) throw new StateFileError(`${path} belongs to uid ${st.uid}, neither to the folder's owner (uid ${owner.uid}) nor to root`);
    // Root's files there are the ones root made before they were given away. One with another name too is not:
    // where protected_hardlinks is off (proc(5): "a user can create a hard link only if … the caller owns the
    // file" otherwise), the owner can link /etc/shadow into their folder, and it is root's.
    if (st.uid === 0 && st.nlink > 1) throw new StateFileError(`${path} is root's and has ${st.nlink} hard links; radotp never made it so`);
  }
  if (maxBytes !== undefined && st.size > maxBytes) throw tooLarge(path, maxBytes);
}

function tooLarge(path: string, maxBytes: number): StateFileError {
  return new StateFileError(`${path} holds more than ${maxBytes} bytes, more than radotp ever writes there`);
}
