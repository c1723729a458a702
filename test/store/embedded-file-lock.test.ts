import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/*
 * <dataDir>/postgres.lock is taken around every start and stop of the embedded PostgreSQL, and a lock left by a
 * process that died holding it (Ctrl-C during a start, SIGKILL) is broken by the next one, which reads the PID in
 * it. Root's `sudo radotp …` on a cluster another user owns takes that lock in their dataDir: left behind 0600 and
 * root's, the owner's processes could not read it, took it for one being released, and waited out the lock's
 * timeout at every start ("held by PID unknown") until root ran radotp there again.
 */
const ROOT = resolve(__dirname, '../..');
const NOBODY = { uid: 65534, gid: 65534 };
let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'radotp-file-lock-'));
  chmodSync(scratch, 0o755); // the other user must enter it
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

/** A process that tries the lock once and exits holding it if it got it; prints whether it did. */
function tryLockAndDie(lock: string, as?: { uid: number; gid: number }): string {
  const script = `process.stdout.write(String(require(${JSON.stringify(join(ROOT, 'src/store/embedded/file-lock.ts'))}).tryLockSync(process.argv[1])))`;
  const r = spawnSync(process.execPath, ['-r', join(ROOT, 'scripts/ts-register.js'), '-e', script, lock], { cwd: ROOT, encoding: 'utf8', ...as });
  expect(r.stderr).toBe('');
  return r.stdout;
}

test('a lock root left behind, dead, in a dataDir another user owns is broken by that user', () => {
  if (process.getuid?.() !== 0) return; // only root can be another user
  const dataDir = join(scratch, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  chownSync(dataDir, NOBODY.uid, NOBODY.gid);
  const lock = join(dataDir, 'postgres.lock');
  expect(tryLockAndDie(lock)).toBe('true'); // root's, and root is gone
  expect(tryLockAndDie(lock, NOBODY)).toBe('true');
});

// A release before locks were readable by all left root's lock 0600 when root was killed holding it: the owner cannot
// read who held it. No waiter waits more than 120 s, so one older than that has no live holder worth waiting for and
// is broken; a younger one may be a live root's (an older release still running during the upgrade) and is not.
test.each([
  ['older than the longest wait (10 min)', 600, 'true'],
  ['younger than that (10 s)', 10, 'false'],
])("a 0600 lock of root's the owner cannot read, %s: broken or not", (_age, seconds, broken) => {
  if (process.getuid?.() !== 0) return;
  const dataDir = join(scratch, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  chownSync(dataDir, NOBODY.uid, NOBODY.gid);
  const lock = join(dataDir, 'postgres.lock');
  const dead = spawnSync('true').pid;
  writeFileSync(lock, `${dead} 12345`, { mode: 0o600 });
  const then = new Date(Date.now() - seconds * 1000);
  utimesSync(lock, then, then);
  expect(tryLockAndDie(lock, NOBODY)).toBe(broken);
  expect(readFileSync(lock, 'utf8').startsWith(`${dead} `)).toBe(broken === 'false');
});
