import fs, { lstatSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateDir } from '../../src/store/embedded/socket-dir';

/*
 * As root, the socket directory is made by root and handed to the user the cluster runs as, in that user's own
 * dataDir (`sudo radotp …` on a cluster they own). They can rename root's new directory away and put a symlink in
 * its place between the check that it is a directory and the hand-over: chown(2) follows the link, and the user
 * came to own whatever it led to (/etc/shadow). Here the swap happens right after the check, as a racing user's
 * would.
 */
let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'radotp-socket-dir-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  rmSync(scratch, { recursive: true, force: true });
});

test('as root: a directory swapped for a symlink before it is handed over gives nothing away, and is not used', () => {
  if (process.getuid?.() !== 0) return; // only root hands a directory to another user
  const victim = join(scratch, 'shadow');
  writeFileSync(victim, 'root:secret\n', { mode: 0o600 });
  const dir = join(scratch, 'postgres.sock');
  const realLstat = lstatSync;
  let swapped = false;
  jest.spyOn(fs, 'lstatSync').mockImplementation(((path: fs.PathLike, opts?: fs.StatSyncOptions) => {
    const st = realLstat(path, opts as never);
    if (!swapped && path === dir) {
      swapped = true;
      renameSync(dir, join(scratch, 'moved-away'));
      symlinkSync(victim, dir);
    }
    return st;
  }) as typeof fs.lstatSync);

  const refused = privateDir(dir, { userName: 'nobody', uid: 65534, gid: 65534 });

  expect(swapped).toBe(true);
  expect(statSync(victim).uid).toBe(0);
  expect(refused).toMatch(/postgres\.sock/);
});

test('a directory made here is handed to the cluster user, mode 0700', () => {
  const dir = join(scratch, 'postgres.sock');
  const runAs = process.getuid?.() === 0 ? { userName: 'nobody', uid: 65534, gid: 65534 } : { userName: 'me' };
  expect(privateDir(dir, runAs)).toBeUndefined();
  const st = lstatSync(dir);
  expect([st.isDirectory(), st.uid, st.mode & 0o777]).toEqual([true, runAs.uid ?? process.getuid!(), 0o700]);
});
