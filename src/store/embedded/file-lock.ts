import { closeSync, fchmodSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { isSameProcessAlive, processStartTime } from './process-liveness';

/*
 * A cross-process mutex: the lock file is created with O_EXCL and holds "<pid> <start time>". A lock whose holder
 * is dead is stale and gets broken. Breaking is itself guarded by a short-lived second O_EXCL file, so two
 * waiters that both find the same stale lock cannot delete a fresh lock taken in between.
 *
 * Both files are readable by all (they hold a PID and a start time, nothing secret): root's `sudo radotp …` and
 * the service account it runs PostgreSQL for share one dataDir, and a lock only its creator could read could not
 * be told stale by the other: root killed with -9 left the service's processes waiting out the whole timeout.
 */

export class LockTimeoutError extends Error {
  override name = 'LockTimeoutError';
}

/** A holder dying between creating the file and writing its PID leaves it empty; after this long it is stale. */
const EMPTY_LOCK_GRACE_MS = 10_000;

/** Readable by other users sharing dataDir, so that they can see when its holder has died. */
const LOCK_MODE = 0o644;

export function ownIdentity(): string {
  return `${process.pid} ${processStartTime(process.pid)}`;
}

function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', LOCK_MODE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    fchmodSync(fd, LOCK_MODE); // whatever the umask (a service's UMask=0077) took off
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Whether "<pid> <start time>" names a process that is still running. */
export function identityAlive(identity: string): boolean {
  const [pid, startTime] = identity.trim().split(' ');
  return isSameProcessAlive(Number(pid), startTime ?? '');
}

function isStale(path: string, content: string): boolean {
  if (content.trim() === '') return ageMs(path) > EMPTY_LOCK_GRACE_MS;
  return !identityAlive(content);
}

function breakStaleLock(path: string, staleContent: string): void {
  const breaker = `${path}.break`;
  if (!createExclusive(breaker, ownIdentity())) {
    if (ageMs(breaker) > EMPTY_LOCK_GRACE_MS) unlinkQuietly(breaker);
    return;
  }
  try {
    if (readOrUndefined(path) === staleContent) unlinkQuietly(path);
  } finally {
    unlinkQuietly(breaker);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

/** One attempt, no waiting. Usable from a process 'exit' handler. */
export function tryLockSync(path: string): boolean {
  const me = ownIdentity();
  for (let i = 0; i < 3; i++) {
    if (createExclusive(path, me)) return true;
    const content = readOrUndefined(path);
    if (content === undefined) continue; // released just now: try again
    if (!isStale(path, content)) return false;
    breakStaleLock(path, content);
  }
  return false;
}

export function unlockSync(path: string): void {
  if (readOrUndefined(path) === ownIdentity()) unlinkQuietly(path);
}

/** Runs `fn` while holding the lock file at `path`, waiting up to `timeoutMs` for it. */
export async function withFileLock<T>(path: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (!tryLockSync(path)) {
    if (Date.now() > deadline) {
      const holder = (readOrUndefined(path) ?? '').trim().split(' ')[0] || 'unknown';
      throw new LockTimeoutError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${path} (held by PID ${holder})`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  try {
    return await fn();
  } finally {
    unlockSync(path);
  }
}
