import { closeSync, constants, lstatSync, openSync } from 'node:fs';

/*
 * Working in a folder of radotp's inside a folder that is another user's (root's `sudo radotp …` on a service
 * account's dataDir: postgres.users/). Its owner can replace that folder with a symlink to one of root's
 * (/etc/cron.d), and root made and deleted files there. The folder is opened O_NOFOLLOW | O_DIRECTORY ("If the
 * trailing component (i.e., basename) of pathname is a symbolic link, then the open fails", open(2)) and its files
 * are reached through that descriptor (Linux's /proc/self/fd/<fd>/<name>), so it cannot be swapped in between.
 */

export class SymlinkedFolderError extends Error {
  override name = 'SymlinkedFolderError';
}

/**
 * Runs `fn` with a path that leads to the folder `dir` as it is now. `noFollow`: a symlink at `dir` is refused
 * (SymlinkedFolderError, naming it); without it, `dir` is followed as any path is. Errors from open keep their
 * `code` (ENOENT: no such folder).
 */
export function throughFolder<T>(dir: string, noFollow: boolean, fn: (at: string) => T): T {
  if (!noFollow) return fn(dir);
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    // O_DIRECTORY | O_NOFOLLOW on a symlink fails with ENOTDIR, as on a file: lstat tells which.
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR' && isSymlink(dir)) {
      throw new SymlinkedFolderError(`${dir} is a symbolic link; radotp does not follow one in another user's folder`, { cause: e });
    }
    throw e;
  }
  try {
    return fn(`/proc/self/fd/${fd}`);
  } finally {
    closeSync(fd);
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
