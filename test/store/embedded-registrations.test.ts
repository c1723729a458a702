import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveRegistrations, register, unregisterAll } from '../../src/store/embedded/registrations';

/*
 * <dataDir>/postgres.users holds one "<pid>-<random>" file per live handle, and every start, stop and release
 * prunes those of dead processes. Root runs that prune in the dataDir of the user a cluster belongs to (`sudo
 * radotp …` on a service account's or an admin's own data), and that user may have made postgres.users a
 * symlink: root then deleted, in the folder it points to (/etc), every file that does not hold a live PID,
 * /etc/passwd and /etc/shadow first. Only files named as registrations are ours to delete.
 */
let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'radotp-registrations-'));
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

/** A folder that is not radotp's, with files a prune must leave alone, and one registration of a dead process. */
function elsewhere(): string {
  const dir = join(scratch, 'etc');
  mkdirSync(dir);
  writeFileSync(join(dir, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(dir, '12345'), 'not a registration\n');
  writeFileSync(join(dir, '999999999-0badc0de'), '999999999 1\n'); // a registration of a process long gone
  return dir;
}

// [what postgres.users is, how it is pruned]
test.each([
  ['a symlink to another folder', 'liveRegistrations'],
  ['a symlink to another folder', 'unregisterAll'],
  ['a folder with files that are not registrations', 'liveRegistrations'],
  ['a folder with files that are not registrations', 'unregisterAll'],
] as const)('postgres.users is %s: %s deletes only registrations of dead processes', (what, prune) => {
  const usersDir = join(scratch, 'postgres.users');
  const other = elsewhere();
  if (what === 'a symlink to another folder') symlinkSync(other, usersDir);
  const dir = what === 'a symlink to another folder' ? other : usersDir;
  if (what !== 'a symlink to another folder') {
    mkdirSync(usersDir);
    for (const name of readdirSync(other)) writeFileSync(join(usersDir, name), 'x');
    writeFileSync(join(usersDir, '999999999-0badc0de'), '999999999 1\n');
  }
  const mine = register(usersDir);

  if (prune === 'liveRegistrations') expect(liveRegistrations(usersDir)).toEqual([mine]);
  else unregisterAll(usersDir);

  const left = readdirSync(dir).sort();
  const expected = ['12345', 'passwd', ...(prune === 'liveRegistrations' ? [mine.split('/').at(-1)!] : [])].sort();
  expect(left).toEqual(expected);
});
