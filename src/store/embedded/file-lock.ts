import { closeSync, fchmodSync, lstatSync, unlinkSync, writeSync } from 'node:fs';
import { openFileFor, type FileOwner } from '../../lang/folder-owner';
import { readStateFile } from '../../lang/state-file';
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

/** "<pid> <start time>" is some 30 bytes. */
const MAX_LOCK_FILE = 256;

/**
 * A lock this user may not read: made 0600 by root before locks were readable by all (root killed -9 while holding
 * it; nothing else leaves one). Its holder cannot be known, so it counts as dead once it is older than the longest
 * wait for a lock (acquire's 120 s): no waiter is still behind it then. The owner of the dataDir waited out that
 * timeout at every start instead, and failed, until root came by again.
 */
const UNREADABLE_LOCK_STALE_MS = 120_000;

/** What a lock file says: its text, undefined when there is none, or UNREADABLE. */
const UNREADABLE = Symbol('unreadable');
type LockContent = string | typeof UNREADABLE | undefined;

/**
 * The lock's text, not read through a symlink nor from anything but a small regular file (see lang/state-file.ts):
 * root reads the lock in another user's folder, who could make it a FIFO (root waited for ever) or a link to a
 * file of root's (whose first word went into the timeout message as the holder's PID). Refused in words naming it.
 */
function readLock(path: string, owner?: FileOwner): LockContent {
  try {
    return readStateFile(path, owner, MAX_LOCK_FILE);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES') return UNREADABLE;
    if (code === 'ENOENT') return undefined;
    throw e;
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - lstatSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Whether "<pid> <start time>" names a process that is still running. */
export function identityAlive(identity: string): boolean {
  const [pid, startTime] = identity.trim().split(' ');
  return isSameProcessAlive(Number(pid), startTime ?? '');
}

function isStale(path: string, content: string | typeof UNREADABLE): boolean {
  if (content === UNREADABLE) return ageMs(path) > UNREADABLE_LOCK_STALE_MS;
  if (content.trim() === '') return ageMs(path) > EMPTY_LOCK_GRACE_MS;
  return !identityAlive(content);
}

/** Which lock file `path` is now: a lock taken since has another inode or time (a read one: its text). */
function sameLock(path: string, stale: string | typeof UNREADABLE, staleStamp: string, owner: FileOwner | undefined): boolean {
  return stale === UNREADABLE ? stampOf(path) === staleStamp : readLock(path, owner) === stale;
}

function stampOf(path: string): string {
  try {
    const st = lstatSync(path);
    return `${st.dev}:${st.ino}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}

function breakStaleLock(path: string, staleContent: string | typeof UNREADABLE, staleStamp: string, owner: FileOwner | undefined): void {
  const breaker = `${path}.break`;
  if (!createExclusive(breaker, ownIdentity(), owner)) {
    if (ageMs(breaker) > EMPTY_LOCK_GRACE_MS) unlinkQuietly(breaker);
    return;
  }
  try {
    if (sameLock(path, staleContent, staleStamp, owner)) unlinkQuietly(path);
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
    const stamp = stampOf(path);
    const content = readLock(path, owner);
    if (content === undefined) continue; // released just now: try again
    if (!isStale(path, content)) return false;
    breakStaleLock(path, content, stamp, owner);
  }
  return false;
}

export function unlockSync(path: string, owner?: FileOwner): void {
  let content: LockContent;
  try {
    content = readLock(path, owner);
  } catch {
    return; // not a lock file any more (see readLock), so not ours: left alone
  }
  if (content === ownIdentity()) unlinkQuietly(path);
}

/** Runs `fn` while holding the lock file at `path`, waiting up to `timeoutMs` for it; `owner` as for tryLockSync. */
export async function withFileLock<T>(path: string, timeoutMs: number, fn: () => Promise<T>, owner?: FileOwner): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (!tryLockSync(path, owner)) {
    if (Date.now() > deadline) {
      const content = readLock(path, owner);
      const holder = content === UNREADABLE ? 'unknown: the file is not readable to this user' : (content ?? '').trim().split(' ')[0] || 'unknown';
      throw new LockTimeoutError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${path} (held by PID ${holder})`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  try {
    return await fn();
  } finally {
    unlockSync(path, owner);
  }
}
