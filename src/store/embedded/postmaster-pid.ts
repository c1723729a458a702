import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * Parses `<pgdata>/postmaster.pid`: line 1 PID, line 4 port, line 5 socket directory, line 6 listen address,
 * line 8 status. Returns undefined when there is no
 * such file or it is still being written.
 */
export function readPostmasterPid(pgdata: string): PostmasterInfo | undefined {
  let lines: string[];
  try {
    lines = readFileSync(join(pgdata, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return undefined;
  return { pid, port, status: (lines[7] ?? '').trim(), socketDir: (lines[4] ?? '').trim(), listenAddress: (lines[5] ?? '').trim() };
}

/**
 * The postmaster currently serving `pgdata`, if its PID is alive. A file left by a crashed server whose PID was
 * since reused by an unrelated program is ignored (where /proc tells us the program's name).
 */
export function livePostmaster(pgdata: string): PostmasterInfo | undefined {
  const info = readPostmasterPid(pgdata);
  if (!info || !isProcessAlive(info.pid)) return undefined;
  const command = processCommand(info.pid);
  if (command !== undefined && !command.startsWith('postgres')) return undefined;
  return info;
}
