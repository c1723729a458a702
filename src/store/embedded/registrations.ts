import { readdirSync, unlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeDirFor, writeFileFor, type FileOwner } from '../../lang/folder-owner';
import { throughFolder } from '../../lang/no-follow-folder';
import { readStateFile, StateFileError } from '../../lang/state-file';
import { identityAlive, ownIdentity } from './file-lock';

/*
 * Who is using a shared PostgreSQL: one file per handle, named "<pid>-<random>" and holding "<pid> <start time>".
 * A file per handle (not per process) lets one process hold several handles and release them independently.
 * Files of dead processes (SIGKILL, crash) are pruned, so they never keep the server up.
 */

/** "<pid> <start time>" is some 30 bytes. */
const MAX_REGISTRATION = 256;

/** How register() names its files: the only files a prune may delete. */
const REGISTRATION_NAME = /^\d+-[0-9a-f]{8}$/;

/** `owner`: whom the folder and file go to when we are root in another user's dataDir (see lang/folder-owner.ts). */
export function register(usersDir: string, owner?: FileOwner): string {
  makeDirFor(usersDir, 0o700, owner); // dataDir itself exists: acquire made it
  const name = `${process.pid}-${randomBytes(4).toString('hex')}`;
  // Readable by all (it holds a PID and a start time, in a private folder): root's registration in the folder of
  // the user the cluster belongs to (`sudo radotp …` there) must count for that user's processes too, or the
  // last of theirs to leave stops the server under root's command.
  // In their folder, postgres.users could be a symlink to one of root's (/etc/cron.d): made only in the folder itself.
  throughFolder(usersDir, owner !== undefined, (at) => writeFileFor(join(at, name), ownIdentity(), 0o644, owner, 'exclusive'));
  return join(usersDir, name);
}

export function unregister(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone (e.g. removed by stopEmbeddedPostgres)
  }
}

/**
 * Registrations of live processes; removes those of dead ones. Only files named as registrations: root prunes
 * the postgres.users of a cluster another user owns (`sudo radotp …` on their dataDir), which that user may
 * have made a symlink to /etc, where every other file (holding no live PID) was deleted. `noFollow` (root in
 * such a folder): a symlink at `usersDir` is not followed at all, and so holds no registration.
 */
export function liveRegistrations(usersDir: string, noFollow = false): string[] {
  try {
    return throughFolder(usersDir, noFollow, (at) => {
      const live: string[] = [];
      for (const name of readdirSync(at).filter((n) => REGISTRATION_NAME.test(n))) {
        const file = join(at, name);
        let identity: string;
        try {
          identity = readStateFile(file, undefined, MAX_REGISTRATION);
        } catch (e) {
          // Not a file register() wrote (a FIFO the folder's owner made there hung root's command): names no one.
          if (e instanceof StateFileError) unregister(file);
          continue;
        }
        if (identityAlive(identity)) live.push(join(usersDir, name));
        else unregister(file);
      }
      return live;
    });
  } catch {
    return []; // no such folder (yet), or a symlink refused
  }
}

export function unregisterAll(usersDir: string, noFollow = false): void {
  for (const file of liveRegistrations(usersDir, noFollow)) unregister(file);
}
