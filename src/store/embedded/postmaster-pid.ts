import { readStateFile, StateFileError } from '../../lang/state-file';
import { join } from 'node:path';
import { isServerOf } from './cluster-folder';
import { isProcessAlive, processCommand } from './process-liveness';

/** What `postmaster.pid` says about the server owning a data directory. */
export interface PostmasterInfo {
  readonly pid: number;
  readonly port: number;
  /** "ready", "starting", "stopping" or "standby" (PostgreSQL ≥ 10). */
  readonly status: string;
  /** The first Unix-socket directory, '' when it listens on none (clusters started by radotp before sockets). */
  readonly socketDir: string;
  /** The first TCP listen address, '' when it listens on none. */
  readonly listenAddress: string;
}

/** Eight short lines (two paths of at most 107 bytes: sun_path); PostgreSQL may add more. */
const MAX_POSTMASTER_PID = 4096;

/**
 * Parses `<pgdata>/postmaster.pid`: line 1 PID, line 4 port, line 5 socket directory, line 6 listen address,
 * line 8 status. Returns undefined when there is no such file (or it cannot be read) or it is still being
 * written. One PostgreSQL cannot have written (a symlink, a FIFO, too long: see lang/state-file.ts) is refused:
 * the data directory is its user's (a service account's, when root runs radotp on its dataDir), and a FIFO there
 * hung root's command.
 */
export function readPostmasterPid(pgdata: string): PostmasterInfo | undefined {
  let lines: string[];
  try {
    lines = readStateFile(join(pgdata, 'postmaster.pid'), undefined, MAX_POSTMASTER_PID).split('\n');
  } catch (e) {
    if (e instanceof StateFileError) throw e;
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return undefined;
  return { pid, port, status: (lines[7] ?? '').trim(), socketDir: (lines[4] ?? '').trim(), listenAddress: (lines[5] ?? '').trim() };
}

/**
 * The postmaster currently serving `pgdata`, if its PID is alive. A file left by a crashed server whose PID was
 * since reused by an unrelated program is ignored (where /proc tells us the program's name), and so is a PID that
 * is not the server of this very folder (see isServerOf): the cluster's owner writes postmaster.pid. `noFollow`:
 * root in another user's dataDir, where a symlink at `pgdata` is no cluster of ours (see cluster-folder.ts).
 */
export function livePostmaster(pgdata: string, noFollow = false): PostmasterInfo | undefined {
  const info = readPostmasterPid(pgdata);
  if (!info || !isProcessAlive(info.pid)) return undefined;
  const command = processCommand(info.pid);
  if (command !== undefined && !command.startsWith('postgres')) return undefined;
  if (!isServerOf(info.pid, pgdata, noFollow)) return undefined;
  return info;
}
