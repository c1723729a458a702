import { closeSync, fchmodSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { openFileFor, type FileOwner } from '../../lang/folder-owner';
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

/** `owner`: whom the file goes to (root in another user's dataDir, see lang/folder-owner.ts). */
function createExclusive(path: string, content: string, owner: FileOwner | undefined): boolean {
  let fd: number;
  try {
    fd = openFileFor(path, 'exclusive', LOCK_MODE, owner);
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

function breakStaleLock(path: string, staleContent: string, owner: FileOwner | undefined): void {
  const breaker = `${path}.break`;
  if (!createExclusive(breaker, ownIdentity(), owner)) {
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

/**
 * One attempt, no waiting. Usable from a process 'exit' handler. `owner`: whom the lock file goes to when we are
 * root in another user's dataDir (see lang/folder-owner.ts).
 */
export function tryLockSync(path: string, owner?: FileOwner): boolean {
  const me = ownIdentity();
  for (let i = 0; i < 3; i++) {
    if (createExclusive(path, me, owner)) return true;
    const content = readOrUndefined(path);
    if (content === undefined) continue; // released just now: try again
    if (!isStale(path, content)) return false;
    breakStaleLock(path, content, owner);
  }
  return false;
}

export function unlockSync(path: string): void {
  if (readOrUndefined(path) === ownIdentity()) unlinkQuietly(path);
}

/** Runs `fn` while holding the lock file at `path`, waiting up to `timeoutMs` for it; `owner` as for tryLockSync. */
export async function withFileLock<T>(path: string, timeoutMs: number, fn: () => Promise<T>, owner?: FileOwner): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (!tryLockSync(path, owner)) {
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
