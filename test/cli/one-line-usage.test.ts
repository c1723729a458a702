import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliIn, linesOf } from '../support/cli';
import { createTestDatabase, databaseContent, type TestDatabase } from '../support/test-database';

/*
 * "The CLI exits non-zero with one clear line." An admin's script that left out a command, mistyped one, gave an
 * option twice or put words after --version got instead: 15-27 lines of help on stderr (`radotp token`,
 * `radotp help bogus`), a suggestion on a second line, the last of two values silently taken (`--method password
 * --method token` made a token user), or the version and exit 0 with the rest of the line ignored.
 * Real `radotp` processes, a fresh database: nothing may change.
 */

let db: TestDatabase;
let dir: string;

const { radotp, ok } = cliIn(() => ({ cwd: dir, databaseUrl: db.url }));


beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-one-line-'));
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nlog:\n  level: silent\n');
  fs.writeFileSync(path.join(dir, 'other.yaml'), 'dataDir: ./other\nlog:\n  level: silent\n');
  await ok(['init']);
  await ok(['user', 'add', 'alice', '--method', 'token']);
  await ok(['client', 'add', 'nas1', '--address', '192.0.2.1', '--secret', 'a shared secret of some length']);
});
afterAll(async () => {
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const TOKEN_COMMANDS = 'enroll, activate, list, show, verify, describe, unlock, delete, assign, unassign, disable, enable, resync, import';

// [what the admin typed, arguments, the whole of stderr]
const cases: [string, string[], string][] = [
  // a missing command printed the command's whole help on stderr (15-27 lines), exit 2
  ['no command at all', [], 'error: radotp: which command? serve, init, db, client, user, token, keys, audit (radotp --help)\n'],
  ['token without its command', ['token'], `error: radotp token: which command? ${TOKEN_COMMANDS} (radotp token --help)\n`],
  ['user without its command', ['user'], 'error: radotp user: which command? add, set, passwd, unlock, list, show, remove, import (radotp user --help)\n'],
  ['client without its command', ['client'], 'error: radotp client: which command? add, set, list, remove (radotp client --help)\n'],
  ['db without its command', ['db'], 'error: radotp db: which command? migrate (radotp db --help)\n'],
  ['a missing command after an option', ['user', '--config', 'radotp.yaml'], 'error: radotp user: which command? add, set, passwd, unlock, list, show, remove, import (radotp user --help)\n'],
  // help for an unknown command printed the parent's whole help on stderr
  ['help for an unknown command', ['help', 'bogus'], "error: unknown command 'bogus'\n"],
  ['help for a near miss', ['help', 'tokne'], "error: unknown command 'tokne' (did you mean token?)\n"],
  ['token help for an unknown command', ['token', 'help', 'enrol'], "error: unknown command 'enrol' (did you mean enroll?)\n"],
  // commander's suggestion came on a second line
  ['an unknown command', ['bogus'], "error: unknown command 'bogus'\n"],
  ['a mistyped command', ['tokne', 'list'], "error: unknown command 'tokne' (did you mean token?)\n"],
  ['a mistyped subcommand', ['token', 'enrol', 'alice'], "error: unknown command 'enrol' (did you mean enroll?)\n"],
  ['a mistyped option', ['user', 'list', '--jsn'], "error: unknown option '--jsn' (did you mean --json?)\n"],
  // audit lists and has a command (prune): a mistyped prune was "too many arguments for 'audit'", or, with prune's
  // option after it, "unknown option '--older-than'", neither naming the word that was wrong
  ['a mistyped command of audit', ['audit', 'prun'], "error: unknown command 'prun' (did you mean prune?)\n"],
  ['a mistyped command of audit, with its option', ['audit', 'prun', '--older-than', '90d'], "error: unknown command 'prun' (did you mean prune?)\n"],
  ['a stray word after audit', ['audit', '--limit', '5', 'bogus'], "error: unknown command 'bogus'\n"],
  ['an unknown option of audit', ['audit', '--older-than', '90d'], "error: unknown option '--older-than'\n"],
  // the last of two values was taken, silently
  ['--method twice', ['user', 'set', 'alice', '--method', 'password', '--method', 'token'], "error: option '--method' is given more than once; it takes one value\n"],
  ['--method twice, once with =', ['user', 'add', 'bob', '--method=password', '--method', 'token'], "error: option '--method' is given more than once; it takes one value\n"],
  ['--secret twice', ['client', 'add', 'nas2', '--address', '192.0.2.2', '--secret', 'first secret of length', '--secret', 'second secret of length'], "error: option '--secret' is given more than once; it takes one value\n"],
  ['--address twice', ['client', 'set', 'nas1', '--address', '192.0.2.3', '--address', '192.0.2.4'], "error: option '--address' is given more than once; it takes one value\n"],
  ['--config twice', ['--config', 'radotp.yaml', 'user', 'list', '-c', 'other.yaml'], "error: option '--config' is given more than once; it takes one value\n"],
  ['--digits twice, the same value', ['token', 'enroll', 'alice', '--digits', '8', '--digits', '8'], "error: option '--digits' is given more than once; it takes one value\n"],
  ['--reason twice', ['token', 'disable', 'TOTP-X', '--reason', 'lost', '--reason', 'stolen'], "error: option '--reason' is given more than once; it takes one value\n"],
  ['--limit twice', ['audit', '--limit', '5', '--limit', '6'], "error: option '--limit' is given more than once; it takes one value\n"],
  // the version was printed, exit 0, and the rest ignored
  ['-V with an argument', ['-V', 'x'], 'error: --version takes nothing else: run `radotp --version` alone\n'],
  ['--version with a command', ['--version', 'user', 'add', 'carol'], 'error: --version takes nothing else: run `radotp --version` alone\n'],
  ['-V after a command', ['user', 'list', '-V'], 'error: --version takes nothing else: run `radotp --version` alone\n'],
];

test.each(cases)('%s: exit 2, one line, nothing changed', async (_what, args, stderr) => {
  const before = await databaseContent(db.url);
  const r = await radotp(args);
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 2, stdout: '', stderr });
  expect(linesOf(r.stderr)).toHaveLength(1);
  expect(await databaseContent(db.url)).toBe(before);
});

// What must stay as it was: help on request goes to stdout in full, with exit 0.
const helpCases: [string, string[], RegExp][] = [
  ['--help', ['--help'], /^Usage: radotp \[options\] \[command\]\n/],
  ['token --help', ['token', '--help'], /^Usage: radotp token \[options\] \[command\]\n[\s\S]*\n {2}resync /],
  ['help token', ['help', 'token'], /^Usage: radotp token \[options\] \[command\]\n/],
  ['token help', ['token', 'help'], /^Usage: radotp token \[options\] \[command\]\n/],
  ['token help enroll', ['token', 'help', 'enroll'], /^Usage: radotp token enroll \[options\] <username>\n/],
  ['user --help', ['user', '--help'], /^Usage: radotp user \[options\] \[command\]\n/],
  // `help` is no command of the list: "unknown command 'help' (did you mean help?)" would be absurd
  ['help help', ['help', 'help'], /^Usage: radotp \[options\] \[command\]\n/],
  ['token help help', ['token', 'help', 'help'], /^Usage: radotp token \[options\] \[command\]\n/],
];

test.each(helpCases)('radotp %s prints the whole help on stdout, exit 0', async (_what, args, usage) => {
  const r = await radotp(args);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(usage);
  expect(linesOf(r.stdout).length).toBeGreaterThan(5);
});

test('--version and -V alone print the version, exit 0', async () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string };
  expect(await ok(['--version'])).toBe(`${version}\n`);
  expect(await ok(['-V'])).toBe(`${version}\n`);
});

test('an option given once, and flags given twice, are still taken', async () => {
  await ok(['user', 'set', 'alice', '--method', 'password']);
  expect(JSON.parse(await ok(['user', 'show', 'alice', '--json']))).toMatchObject({ method: 'password' });
  // a flag repeated says the same thing twice: nothing to choose between
  expect(JSON.parse(await ok(['user', 'list', '--json', '--json']))).toEqual(expect.arrayContaining([expect.objectContaining({ username: 'alice' })]));
  // -c once before the command and nowhere else
  expect(await ok(['-c', 'radotp.yaml', 'user', 'list'])).toMatch(/^alice /m);
});
