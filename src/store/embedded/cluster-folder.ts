import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, statSync, type Stats } from 'node:fs';

/*
 * The cluster's folder, <dataDir>/postgres, as root sees it in a dataDir that is another user's (a service
 * account's, `sudo radotp …`). Its owner can replace it with a symlink to another cluster (the system's
 * /var/lib/postgresql/15/main): root then took that cluster's owner for the user to run PostgreSQL as, started it
 * with radotp's settings, and stopped it when done. There the folder is never followed: it is opened O_NOFOLLOW
 * ("If the trailing component (i.e., basename) of pathname is a symbolic link, then the open fails", open(2)) and
 * what is learnt about it (its owner, PG_VERSION in it) comes from that descriptor, so it cannot be swapped between
 * the check and the use. Elsewhere (not root, root's own dataDir) a symlinked cluster folder is followed as before.
 */

export class ClusterFolderError extends Error {
  override name = 'ClusterFolderError';
}

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

/** What is in `pgdata`: its owner and whether it holds a cluster (PG_VERSION); undefined when there is no folder. */
export interface ClusterFolder {
  readonly uid: number;
  readonly gid: number;
  readonly hasCluster: boolean;
}

/**
 * `pgdata` seen through one descriptor. `noFollow`: a symlink there is refused (ClusterFolderError, naming it)
 * instead of followed. Undefined when nothing is there (or it cannot be opened), as for a cluster not made yet.
 */
export function inspectClusterFolder(pgdata: string, noFollow: boolean): ClusterFolder | undefined {
  let fd: number;
  try {
    fd = openSync(pgdata, O_RDONLY | O_DIRECTORY | (noFollow ? O_NOFOLLOW : 0));
  } catch (e) {
    // O_DIRECTORY | O_NOFOLLOW on a symlink fails with ENOTDIR, as on a file: lstat tells which.
    if (noFollow && (e as NodeJS.ErrnoException).code === 'ENOTDIR' && isSymlink(pgdata)) throw symlinkRefused(pgdata);
    return undefined;
  }
  try {
    const { uid, gid } = fstatSync(fd);
    // Looked up in the folder the descriptor holds (Linux's /proc/self/fd), not by a path that could lead elsewhere now.
    return { uid, gid, hasCluster: existsSync(`/proc/self/fd/${fd}/PG_VERSION`) };
  } finally {
    closeSync(fd);
  }
}

/** Refuses a symlink at `pgdata` (ClusterFolderError) when `noFollow`; a missing folder is fine. */
export function refuseSymlinkedClusterFolder(pgdata: string, noFollow: boolean): void {
  if (noFollow && isSymlink(pgdata)) throw symlinkRefused(pgdata);
}

/**
 * Whether the process `pid` is the server of the cluster in `pgdata`: PostgreSQL changes into its data directory
 * at start (ChangeToDataDir), so its working directory (/proc/<pid>/cwd) is that very folder. The PID alone is what
 * postmaster.pid says, and the cluster's owner writes that file: as root in their dataDir, a PID they put there
 * (the system PostgreSQL's) was taken for radotp's server and stopped. `noFollow`: `pgdata` itself as it is, a
 * symlink there being no cluster folder. Where /proc is not available (not Linux), true: nothing to tell by.
 */
export function isServerOf(pid: number, pgdata: string, noFollow: boolean): boolean {
  if (!existsSync('/proc/self/cwd')) return true;
  let cwd: Stats;
  let folder: Stats;
  try {
    cwd = statSync(`/proc/${pid}/cwd`);
    folder = noFollow ? lstatSync(pgdata) : statSync(pgdata);
  } catch {
    return false; // gone, or another user's process that we may not look at: not a server we run
  }
  return folder.isDirectory() && cwd.dev === folder.dev && cwd.ino === folder.ino;
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function symlinkRefused(pgdata: string): ClusterFolderError {
  return new ClusterFolderError(`${pgdata} is a symbolic link; as root, radotp does not run a cluster through one in another user's folder`);
}
