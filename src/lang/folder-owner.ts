import { spawnSync } from 'node:child_process';
import { closeSync, lstatSync, rmSync, constants, fchownSync, fstatSync, ftruncateSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { checkStateFile } from './state-file';

/*
 * Root's new files in a folder that belongs to another user. `sudo radotp …` on the dataDir of a service account
 * (owned by it, mode 0700) must leave what it creates there as that account would have made it itself: the service
 * cannot read a root-owned 0600 master.key or postgres.password, nor append to root's postgres.log.
 *
 * The folder's owner can plant symlinks in it, so, when giving files away, they are opened O_NOFOLLOW ("If the
 * trailing component (i.e., basename) of pathname is a symbolic link, then the open fails", open(2)) and given
 * through the open descriptor (fchown(2)), never by path: a chown by path follows a symlink swapped in after the
 * file was made, handing a file of the attacker's choosing to them. Only files and folders created just now are
 * given away (O_EXCL, mkdir), never ones found there.
 */

export interface FileOwner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Whom our new files in `dir` must belong to: its owner and group when we are root and `dir` is not root's;
 * undefined otherwise (not root, root's own folder, no such folder), when files stay ours as always.
 */
export function ownerOfFolder(dir: string): FileOwner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const { uid, gid } = statSync(dir);
    return uid === 0 ? undefined : { uid, gid };
  } catch {
    return undefined;
  }
}

const { O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_DIRECTORY } = constants;
const FLAGS = {
  truncate: O_WRONLY | O_CREAT | O_TRUNC,
  // Read too: what was there before is read from the descriptor that was checked (see state-file.ts).
  append: O_RDWR | O_CREAT | O_APPEND,
  exclusive: O_WRONLY | O_CREAT | O_EXCL,
  write: O_RDWR | O_CREAT,
} as const;

/**
 * Opens `path` for writing (`truncate`: as 'w', `append`: as 'a+', `exclusive`: as 'wx', `write`: as 'r+' but
 * creating), creating it with `mode`; a file created here is given to `owner`. Without an owner this is a plain
 * openSync. With one, a symlink at `path` is refused with a message naming it, and so is a file found there that
 * radotp did not make (see checkStateFile): a hard link to one of root's files would be written over.
 */
export function openFileFor(path: string, how: keyof typeof FLAGS, mode: number, owner: FileOwner | undefined): number {
  if (owner === undefined) return openSync(path, FLAGS[how], mode);
  let fd: number;
  try {
    fd = noFollow(path, FLAGS[how] | O_EXCL, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || how === 'exclusive') throw e;
    // There before: written to, not given away, once checked; emptied only then (O_TRUNC would empty it at open).
    const fd = checked(noFollow(path, FLAGS[how] & ~O_TRUNC), path, owner);
    if (how === 'truncate') closingOnError(fd, () => ftruncateSync(fd));
    return fd;
  }
  closingOnError(fd, () => fchownSync(fd, owner.uid, owner.gid));
  return fd;
}

function checked(fd: number, path: string, owner: FileOwner): number {
  closingOnError(fd, () => checkStateFile(fstatSync(fd), path, owner));
  return fd;
}

/** Runs `step` on the just-opened `fd`; if it throws, `fd` is closed first: the caller never gets it to close. */
function closingOnError(fd: number, step: () => void): void {
  try {
    step();
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** writeFileSync through openFileFor. */
export function writeFileFor(path: string, data: string, mode: number, owner: FileOwner | undefined, how: 'truncate' | 'exclusive' = 'truncate'): void {
  const fd = openFileFor(path, how, mode, owner);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** mkdir (not recursive); a folder created here is given to `owner`. Returns false when it already existed. */
export function makeDirFor(path: string, mode: number, owner: FileOwner | undefined): boolean {
  try {
    mkdirSync(path, { mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  if (owner !== undefined) giveDirTo(path, owner);
  return true;
}

/**
 * rm -rf of `path`, which is in a folder of `owner`'s (root in another user's folder, see ownerOfFolder): done as
 * them (rm(1) with their uid and gid), so that only what they could delete themselves goes. Root's own recursive
 * removal by path followed a folder inside swapped for a symlink between its lstat and its readdir (to /etc) and
 * deleted what was there. Without an owner, rmSync as always. Throws, naming `path`, if anything is left.
 */
export function removeTreeFor(path: string, owner: FileOwner | undefined): void {
  if (owner === undefined) {
    rmSync(path, { recursive: true, force: true });
    return;
  }
  const rm = spawnSync('rm', ['-rf', '--', path], { uid: owner.uid, gid: owner.gid, cwd: '/', encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (rm.error === undefined && rm.status === 0 && !existsNoFollow(path)) return;
  const why = (rm.stderr || rm.error?.message || 'it is still there').trim().split('\n')[0];
  throw new Error(`cannot remove ${path} with the rights of its folder's owner (uid ${owner.uid}): ${why}`);
}

function existsNoFollow(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** chown of the folder `path` itself, never of what a symlink there points to. */
export function giveDirTo(path: string, owner: FileOwner): void {
  const fd = openSync(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    fchownSync(fd, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
}

/**
 * openSync refusing a symlink as the last component (O_NOFOLLOW: "the open fails, with the error ELOOP"), and a FIFO
 * with no reader (O_NONBLOCK: "open() for writing only shall return an error if no process currently has the file
 * open for reading", ENXIO), where a blocking open waited for ever. O_NONBLOCK does nothing to a regular file.
 */
function noFollow(path: string, flags: number, mode?: number): number {
  try {
    return openSync(path, flags | O_NOFOLLOW | O_NONBLOCK, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new Error(`${path} is a symbolic link; radotp does not write through one in another user's folder`, { cause: e });
    throw e;
  }
}
