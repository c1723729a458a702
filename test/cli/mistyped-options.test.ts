import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { cliIn, linesOf, runCli } from '../support/cli';
import { createTestDatabase, databaseContent, type TestDatabase } from '../support/test-database';

/*
 * An admin's mistyped command lines that ran as if the mistake were not there (exit 0, or worse, a change):
 * each now exits 2 with one line saying what is wrong, and changes nothing in the database.
 * Real `radotp` processes, a fresh database.
 */

let db: TestDatabase;
let dir: string;

const { radotp, ok } = cliIn(() => ({ cwd: dir, databaseUrl: db.url }));


beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-mistyped-'));
  // the config the commands must read; a ./radotp.yaml taken instead of a mistyped --config would name another dataDir
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nlog:\n  level: silent\n');
  await ok(['init']);
  await ok(['user', 'add', 'alice', '--method', 'token']);
  await ok(['user', 'add', 'bob', '--method', 'token']);
});
afterAll(async () => {
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// [what the admin did, arguments, the one line on stderr]
const cases: [string, string[], RegExp][] = [
  // `-c "$CONF"` with CONF unset read ./radotp.yaml (or defaults) as if no --config had been given
  ['an empty --config before the command', ['--config', '', 'user', 'list'], /^radotp: --config names no file \(it is empty\)/],
  ['an empty -c after it', ['user', 'list', '-c', ''], /^radotp: --config names no file \(it is empty\)/],
  ['an empty --config on a change', ['user', 'add', 'carol', '--config', ''], /^radotp: --config names no file \(it is empty\)/],
  // created as typed: users no one logs in as, listed as a blank or as a second alice
  ['a username of spaces', ['user', 'add', '   '], /^radotp: usernames must not begin or end with spaces/],
  ['a username with a leading space', ['user', 'add', ' alice'], /^radotp: usernames must not begin or end with spaces/],
  ['a username with a trailing no-break space', ['user', 'add', 'alice\u00a0'], /^radotp: usernames must not begin or end with spaces/],
  // a secret of spaces (a quoting mistake) was taken: no better than an empty one, which is refused
  ['a shared secret of only spaces', ['client', 'add', 'nas1', '--address', '192.0.2.1', '--secret', ' '.repeat(20)], /^radotp: the shared secret must not be only spaces\n$/],
  // the period was ignored, exit 0
  ['--period for an HOTP token', ['token', 'enroll', 'alice', '--type', 'hotp', '--period', '60'], /^radotp: --period is the time step of a TOTP token; an HOTP token \(--type hotp\) has none\n$/],
  // `audit`'s listing filters were taken after `prune` and ignored: every user's old events went
  ['audit prune with --user', ['audit', 'prune', '--older-than', '1d', '--user', 'bob'], /^radotp: --user filters the listing of `radotp audit`; `audit prune` deletes the events of every user/],
  ['audit prune with --limit', ['audit', '--limit', '5', 'prune', '--older-than', '1d'], /^radotp: --limit filters the listing of `radotp audit`; `audit prune` deletes the events of every user/],
];

test.each(cases)('%s: exit 2, one line, nothing changed', async (_what, args, message) => {
  const before = await databaseContent(db.url);
  const r = await radotp(args);
  expect({ code: r.code, stdout: r.stdout, lines: linesOf(r.stderr).length }).toEqual({ code: 2, stdout: '', lines: 1 });
  expect(r.stderr).toMatch(message);
  expect(await databaseContent(db.url)).toBe(before);
});

test('an empty $RADOTP_CONFIG is still no setting: ./radotp.yaml is read', async () => {
  const r = await runCli(['user', 'list'], { cwd: dir, env: { RADOTP_DATABASE_URL: db.url, RADOTP_CONFIG: '' } });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^alice /m);
});

// `audit --user ""` listed every user's events; an empty name matches the events that have one (none here)
test('audit --user "" lists only events of an empty username', async () => {
  expect(JSON.parse(await ok(['audit', '--user', 'alice', '--json']))).toHaveLength(1);
  expect(JSON.parse(await ok(['audit', '--user', '', '--json']))).toEqual([]);
});

test('--period for a TOTP token, and an HOTP token without one, are still taken', async () => {
  expect(JSON.parse(await ok(['token', 'enroll', 'alice', '--period', '60', '--json']))).toMatchObject({ type: 'totp', period: 60 });
  expect(JSON.parse(await ok(['token', 'enroll', 'bob', '--type', 'hotp', '--json']))).toMatchObject({ type: 'hotp' });
});

// `alice, pw,,` (a space after the comma) or a row of spaces created " alice" and "   " as users, as `user add` did
test.each([
  ['a username of spaces', '   ,,,\n', '   '],
  ['a username with a leading space', ' carol,,,\n', ' carol'],
])('user import: %s imports nothing, naming the line', async (_what, row, name) => {
  const csv = path.join(dir, 'users.csv');
  fs.writeFileSync(csv, `username,password,method,token_serial\ndave,,,\n${row}`);
  const before = await databaseContent(db.url);
  const r = await radotp(['user', 'import', csv]);
  expect({ code: r.code, stdout: r.stdout, lines: linesOf(r.stderr).length }).toEqual({ code: 1, stdout: '', lines: 1 });
  expect(r.stderr).toContain(`line 3: username "${name}": usernames must not begin or end with spaces`);
  expect(await databaseContent(db.url)).toBe(before);
});

// A User-Name is whatever a NAS (or whoever can send as one) put in the packet. C1's CSI and a right-to-left
// override reached the admin's terminal from `radotp audit`: a screen cleared, "eve<RLO>nimda" shown as "eveadmin".
test('radotp audit shows a User-Name with C1 controls and bidi overrides escaped', async () => {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(`INSERT INTO audit_event (at, node, username, result, reason) VALUES (now() + interval '1 hour', 'n1', $1, 'reject', 'bad_password')`, ['eve\u009b2J\u202enimda\u2028x']);
  } finally {
    await client.end();
  }
  const out = await ok(['audit', '--limit', '1']);
  expect(out).toContain('eve\\x9b2J\\u202enimda\\u2028x');
  expect(out).not.toMatch(/[\u0080-\u009f\u2028\u202e]/);
});

// Many NAS configurations trim the secret they are given: one that begins or ends with a space then differs from
// ours, and every request fails its authenticator check, logged nowhere the admin looks first.
test('a shared secret beginning or ending with a space is taken, with a one-line warning', async () => {
  const r = await radotp(['client', 'add', 'nas-spaced', '--address', '192.0.2.2', '--secret', 'correct horse battery staple ']);
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: 'client nas-spaced added\n' });
  expect(r.stderr).toBe('radotp: warning: the shared secret begins or ends with a space: a NAS that trims its secret would then hold another one\n');
});
