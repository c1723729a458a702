import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync } from 'node:fs';
import { giveDirTo } from '../../lang/folder-owner';
import type { RunAs } from './postgres-user';

/*
 * Where the embedded PostgreSQL listens: only a Unix-domain socket in a directory of its own, mode 0700 and owned
 * by the user the cluster runs as (ourselves; the 'postgres' user when we are root, and root enters it anyway, as
 * it already reads the cluster's postmaster.pid). Loopback TCP let any local user reach the server and try the
 * password; a socket in a private directory keeps them out (the scram password stays, as defence in depth).
 *
 * sun_path is 108 bytes with its NUL (unix(7)); PostgreSQL refuses a socket path of 108 bytes or more. The socket
 * is <dir>/.s.PGSQL.<port>, so a dataDir too deep for that gets a short directory under /tmp instead, named from
 * a hash of the cluster's path so that every start finds the same one. /tmp is shared: that directory is created
 * 0700 by us, and one found there is used only if lstat says it is a real directory (not a symlink), owned by the
 * cluster's user and closed to everyone else. Another local user can pre-create the name, which would only cost
 * us the socket: we then listen on loopback TCP as before (password auth still applies) and say why in the log,
 * rather than fail to start or use a directory someone else controls.
 */

export type Listen = { readonly socketDir: string } | { readonly tcp: '127.0.0.1'; readonly why: string };

/** sizeof(sun_path) minus the terminating NUL. */
const SUN_PATH_MAX = 107;
/** The longest socket file name PostgreSQL makes in the directory (a five-digit port). */
const SOCKET_FILE = '/.s.PGSQL.65535';
const FALLBACK_ROOT = '/tmp';

export function fitsSunPath(dir: string): boolean {
  return Buffer.byteLength(dir + SOCKET_FILE) <= SUN_PATH_MAX;
}

/** The socket directory for the cluster in `pgdata` (made if missing), or loopback TCP and why. */
export function chooseListen(pgdata: string, runAs: RunAs): Listen {
  const own = `${pgdata}.sock`;
  const fallback = `${FALLBACK_ROOT}/radotp-pg-${createHash('sha256').update(pgdata).digest('hex').slice(0, 16)}`;
  const dir = fitsSunPath(own) ? own : fallback;
  const refused = privateDir(dir, runAs);
  return refused === undefined ? { socketDir: dir } : { tcp: '127.0.0.1', why: refused };
}

/** Makes `dir` 0700 for the cluster's user, or checks that an existing one is that. Undefined when usable. */
export function privateDir(dir: string, runAs: RunAs): string | undefined {
  const owner = runAs.uid ?? process.getuid?.();
  const me = process.getuid?.();
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return `cannot create ${dir}: ${(e as Error).message}`;
  }
  const notDirectory = (st: { isSymbolicLink(): boolean }) => `${dir} is not a directory${st.isSymbolicLink() ? ' (a symlink)' : ''}`;
  let st = lstatSync(dir);
  if (!st.isDirectory()) return notDirectory(st);
  // Made by us (just now, or by a start that died before handing it over): hand it to the cluster's user, through
  // its descriptor opened O_NOFOLLOW (the folder it is in may be that user's, who could swap in a symlink after our
  // lstat, and chown(2) by path would hand them whatever it leads to: /etc/shadow). What is there is checked again.
  if (st.uid !== owner && st.uid === me && runAs.uid !== undefined) {
    try {
      giveDirTo(dir, { uid: runAs.uid, gid: runAs.gid ?? -1 });
    } catch (e) {
      return `cannot hand ${dir} to the ${runAs.userName} user: ${(e as Error).message}`;
    }
    st = lstatSync(dir);
    if (!st.isDirectory()) return notDirectory(st);
  }
  if (st.uid !== owner) return `${dir} belongs to uid ${st.uid}, not to the ${runAs.userName} user`;
  if ((st.mode & 0o077) !== 0) return `${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}
