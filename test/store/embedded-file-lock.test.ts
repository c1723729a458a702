import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
