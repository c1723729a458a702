import { spawnSync } from 'node:child_process';
import { chownSync, closeSync, linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { openFileFor, writeFileFor } from '../../src/lang/folder-owner';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStateFile } from '../../src/lang/state-file';

/*
 * readStateFile reads the small files radotp keeps in a dataDir, which as root may be another user's (`sudo radotp`
 * on a service account's data): only a regular file, not through a symlink, not longer than radotp writes, and, for
 * root in that user's folder, one that is theirs or root's own with no other name. Anything else is refused in words
 * naming the file.
 */

const OWNER = { uid: 65534, gid: 65534 };
let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'radotp-state-file-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Make = (file: string) => void;
const text = (uid: number): Make => (file) => (writeFileSync(file, '5432\n'), chownSync(file, uid, uid));
const rootOnly = join(tmpdir(), 'radotp-state-file-victim');

test.each<[string, Make, boolean, string | RegExp]>([
  ["the folder owner's file", text(OWNER.uid), true, '5432\n'],
  ["root's file with one name", text(0), true, '5432\n'],
  ['a file of a third user', text(4243), true, /belongs to uid 4243, neither to the folder's owner \(uid 65534\) nor to root$/],
  ["a hard link to a file of root's", (f) => linkSync(rootOnly, f), true, /is root's and has 2 hard links; radotp never made it so$/],
  ["a symlink to a file of root's", (f) => symlinkSync(rootOnly, f), false, /is a symbolic link; radotp does not read through one$/],
  ['a symlink to /dev/zero', (f) => symlinkSync('/dev/zero', f), false, /is a symbolic link/],
  ['a FIFO', (f) => spawnSync('mkfifo', [f]), false, /is a FIFO, not a regular file$/],
  ['a folder', (f) => spawnSync('mkdir', [f]), false, /is a folder, not a regular file$/],
  ['65 bytes', (f) => (writeFileSync(f, ''), truncateSync(f, 65)), false, /holds more than 64 bytes, more than radotp ever writes there$/],
  ['64 bytes', (f) => (writeFileSync(f, ''), truncateSync(f, 64)), false, '\0'.repeat(64)],
])('%s', (_name, make, needsRoot, expected) => {
  if (needsRoot && process.getuid?.() !== 0) return;
  writeFileSync(rootOnly, 'root:secret\n', { mode: 0o600 });
  try {
    const file = join(dir, 'postgres.port');
    make(file);
    const read = () => readStateFile(file, process.getuid?.() === 0 ? OWNER : undefined, 64);
    if (typeof expected === 'string') expect(read()).toBe(expected);
    else expect(read).toThrow(new RegExp(`^${file.replace(/[.]/g, '\\.')} ${expected.source}`));
  } finally {
    rmSync(rootOnly, { force: true });
  }
});

test('no such file: the error keeps its code', () => {
  expect(() => readStateFile(join(dir, 'missing'), undefined, 64)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
});

// The same check guards root's writes there (lang/folder-owner.ts): a hard link to a file of root's was written
// over, and 'truncate' emptied it at open(2) (O_TRUNC), before any check could look at it.
test.each([['truncate'], ['append']] as const)("writeFileFor (%s) leaves a hard link to a file of root's alone", (how) => {
  if (process.getuid?.() !== 0) return;
  writeFileSync(rootOnly, 'root:secret\n', { mode: 0o600 });
  try {
    chownSync(dir, OWNER.uid, OWNER.gid);
    const file = join(dir, 'postgres.password');
    linkSync(rootOnly, file);
    const write = () => (how === 'truncate' ? writeFileFor(file, 'x', 0o600, OWNER) : closeSync(openFileFor(file, 'append', 0o600, OWNER)));
    expect(write).toThrow(/postgres\.password is root's and has 2 hard links/);
    expect(readFileSync(rootOnly, 'utf8')).toBe('root:secret\n');
  } finally {
    rmSync(rootOnly, { force: true });
  }
});
