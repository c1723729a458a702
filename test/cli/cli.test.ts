import { sql } from 'kysely';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../cli/main';
import { verifyPassword } from '../../src/auth/password-hash';
import { loadConfig } from '../../src/config/load';
import { openStore, type Store } from '../../src/store/open';
import { cliEnv, linesOf, RADOTP_BIN, runCli, type CliResult } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * The CLI as an admin meets it: a real `radotp` process (TypeScript sources) in a folder holding radotp.yaml,
 * against a fresh database named by $RADOTP_DATABASE_URL. The tests of one describe share that database and
 * run in order: later ones build on what earlier ones created.
 */

const SECRET = 'cli-test-shared-secret-7d3f1a9c'; // long: a short one adds a warning line to stderr

let db: TestDatabase;
let dir: string;
const keyFile = () => path.join(dir, 'keys', 'master.key');

/** Runs radotp in the test folder, so ./radotp.yaml (with relative dataDir and keyFile) is the config. */
function radotp(args: string[], stdin?: string, cwd = dir): Promise<CliResult> {
  return runCli(args, { cwd, stdin, env: { RADOTP_DATABASE_URL: db.url } });
}

/** Every failure: non-zero exit, nothing on stdout, exactly one "radotp: …" line on stderr. */
function expectOneLineError(r: CliResult, message: RegExp, code = 1): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: '' });
  expect(linesOf(r.stderr)).toEqual([expect.stringMatching(/^radotp: /)]);
  expect(r.stderr).toMatch(message);
}

function expectSuccess(r: CliResult, stdout: RegExp): void {
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(stdout);
}

/** A second, in-process view of the same database, to check what the CLI stored. */
async function withStoreOfTestFolder<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const cfg = loadConfig(path.join(dir, 'radotp.yaml'), { RADOTP_DATABASE_URL: db.url });
  const store = await openStore(cfg, { poolSize: 1 });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-cli-'));
  // Relative paths: they must resolve against this folder, not against wherever radotp was started.
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nkeyFile: ./keys/master.key\nlog:\n  level: silent\n');
  fs.mkdirSync(path.join(dir, 'keys')); // a keyFile outside dataDir must be in a folder that exists
});
afterAll(async () => {
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('help and usage errors', () => {
  /** Every command path of the program, e.g. ['client', 'add']; read from commander so a new command is covered too. */
  function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
    return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
  }
  const paths = [[], ...commandPaths(buildProgram())];

  test('the walk finds the commands an admin is told about', () => {
    const names = paths.map((p) => p.join(' '));
    for (const expected of ['serve', 'init', 'db migrate', 'client add', 'client set', 'client list', 'client remove', 'user add', 'user passwd', 'user show', 'audit', 'audit prune']) {
      expect(names).toContain(expected);
    }
  });

  // Independent of each other and of the database: run side by side to keep the file quick.
  test.concurrent.each(paths.map((p) => [p.join(' ') || '(top level)', p] as const))('radotp %s --help', async (_name, commandPath) => {
    const r = await radotp([...commandPath, '--help']);
    expectSuccess(r, new RegExp(`^Usage: radotp${commandPath.map((w) => ' ' + w).join('')}\\b`));
  });

  const usageErrors: [string, string[], RegExp][] = [
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['unknown subcommand', ['user', 'frobnicate'], /unknown command 'frobnicate'/],
    ['unknown option', ['client', 'list', '--colour'], /unknown option '--colour'/],
    ['missing argument', ['client', 'remove'], /missing required argument 'name'/],
    ['missing required option', ['user', 'passwd', 'alice'], /required option '--password-stdin' not specified/],
    ['value outside the choices', ['user', 'set', 'alice', '--method', 'sms'], /argument 'sms' is invalid/],
    ['a code length outside the choices', ['token', 'enroll', 'alice', '--digits', '7'], /option '--digits <n>' argument '7' is invalid\. Allowed choices are 6, 8\./],
    // Number() read all three as 6 and 30: what was typed is not what a whole number looks like
    ['a code length written as a decimal', ['token', 'enroll', 'alice', '--digits', '6.0'], /option '--digits <n>' argument '6\.0' is invalid\. Allowed choices are 6, 8\./],
    ['a code length written in hex', ['token', 'enroll', 'alice', '--digits', '0x6'], /argument '0x6' is invalid/],
    ['a TOTP step with spaces', ['token', 'enroll', 'alice', '--period', ' 30'], /argument ' 30' is invalid/],
    ['an audit limit in exponent form', ['audit', '--limit', '1e3'], /argument '1e3' is invalid/],
    ['a TOTP step outside the choices', ['token', 'enroll', 'alice', '--period', '45'], /option '--period <s>' argument '45' is invalid\. Allowed choices are 30, 60\./],
    ['an audit limit that is not a count', ['audit', '--limit', '0'], /option '--limit <n>' argument '0' is invalid\. It must be a whole number from 1 to 100000\./],
    ['an audit prune age in plain seconds', ['audit', 'prune', '--older-than', '90'], /argument '90' is invalid\. It must be a duration from a day to 100 years \(36500d\), such as "90d"/],
    ['an audit prune age under a day', ['audit', 'prune', '--older-than', '12h'], /argument '12h' is invalid/],
    // beyond 100 years the cut-off is no date: PostgreSQL was sent "0NaN-NaN"
    ['an audit prune age over 100 years', ['audit', 'prune', '--older-than', '36501d', '--dry-run'], /argument '36501d' is invalid\. It must be a duration from a day to 100 years/],
    ['an audit prune age no date can hold', ['audit', 'prune', '--older-than', '99999999999d', '--dry-run'], /argument '99999999999d' is invalid/],
    ['an audit prune with no age', ['audit', 'prune'], /required option '--older-than <duration>' not specified/],
    ['host bits set in a client CIDR', ['client', 'add', 'bad-cidr', '--address', '10.1.2.3/8', '--secret', SECRET], /option '--address <cidr>' argument '10\.1\.2\.3\/8' is invalid\. Host bits are set below the \/8 prefix \(did you mean 10\.0\.0\.0\/8\?\)\.$/],
    ['a client address that is not one', ['client', 'add', 'bad-ip', '--address', 'nas.example', '--secret', SECRET], /option '--address <cidr>' argument 'nas\.example' is invalid\. Not an IPv4 or IPv6 address\.$/],
    ['yes/no that is neither', ['client', 'add', 'bad-yn', '--address', '192.0.2.20', '--secret', SECRET, '--require-message-authenticator', 'maybe'], /option '--require-message-authenticator <yes\|no\|auto>' argument 'maybe' is invalid\. Expected yes, no or auto\.$/],
    ['a token description over 200 characters', ['token', 'describe', 'TOTP-X', 'd'.repeat(201)], /value 'd{201}' is invalid for argument 'text'\. It must be at most 200 characters\.$/],
    ['a token description with a control character', ['token', 'describe', 'TOTP-X', 'desk\x1b[31m'], /is invalid for argument 'text'\. It must not contain control characters\.$/],
    // a line break in a value commander quotes: one line still, the break shown as \n (it printed "value 'two" and a second line)
    ['a token description with a line break', ['token', 'describe', 'TOTP-X', 'two\nlines'], /^error: command-argument value 'two\\nlines' is invalid for argument 'text'\. It must not contain control characters\.$/],
    // --note was stored as given: a line break or an escape sequence then came out of `token show` as it was
    ['a disable note with a control character', ['token', 'disable', 'TOTP-X', '--reason', 'lost', '--note', 'lost\x1b[2J'], /option '--note <text>' argument 'lost\\x1b\[2J' is invalid\. It must not contain control characters\.$/],
    ['a disable note over 200 characters', ['token', 'disable', 'TOTP-X', '--reason', 'lost', '--note', 'n'.repeat(201)], /option '--note <text>' argument 'n{201}' is invalid\. It must be at most 200 characters\.$/],
    // an empty --qr-png (`--qr-png "$FILE"` with FILE unset) was ignored: no file written, exit 0
    ['an empty --qr-png', ['token', 'enroll', 'alice', '--qr-png', ''], /option '--qr-png <file>' argument '' is invalid\. It must name a file\.$/],
    // "key file : folder /tmp does not exist", naming a folder that exists
    ['an empty key file name', ['keys', 'new', ''], /value '' is invalid for argument 'file'\. It must name a file\.$/],
    ['an empty CSV file name', ['user', 'import', ''], /value '' is invalid for argument 'file'\. It must name a file\.$/],
    ['yes/no that is neither, in client set', ['client', 'set', 'vpn-1', '--require-message-authenticator', 'perhaps'], /argument 'perhaps' is invalid\. Expected yes, no or auto\.$/],
  ];
  test.concurrent.each(usageErrors)('%s exits 2 and says what is wrong first', async (_name, args, message) => {
    const r = await radotp(args);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
    // commander's message, then its "(run with --help for usage)" hint (showHelpAfterError in cli/main.ts)
    expect(linesOf(r.stderr)[0]).toMatch(message);
  });
});

describe('before `radotp init`', () => {
  test.each([
    ['client list', ['client', 'list']],
    ['user add', ['user', 'add', 'early']],
    ['audit', ['audit']],
  ])('%s refuses with a one-line hint to run init', async (_name, args) => {
    expectOneLineError(await radotp(args), /key file .*keys\/master\.key does not exist; run `radotp init`/);
    expect(fs.existsSync(keyFile())).toBe(false);
  });
});

describe('config errors reach the admin as one line', () => {
  test('--config naming a missing file', async () => {
    expectOneLineError(await radotp(['client', 'list', '--config', path.join(dir, 'nope.yaml')]), /nope\.yaml: cannot read config file \(ENOENT\)/);
  });

  test('$RADOTP_CONFIG naming a missing file', async () => {
    const r = await runCli(['client', 'list'], { cwd: dir, env: { RADOTP_DATABASE_URL: db.url, RADOTP_CONFIG: path.join(dir, 'gone.yaml') } });
    expectOneLineError(r, /gone\.yaml: cannot read config file \(ENOENT\)/);
  });

  test('a bad value names the file and the key', async () => {
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'radius:\n  maxPending: lots\n');
    expectOneLineError(await radotp(['client', 'list', '-c', bad]), new RegExp(`${bad}: radius\\.maxPending: `));
  });

  // serve reads radius.dictionaries before anything else: [what, the dictionary file's content or undefined for none, message after "<dict>"]
  test.each([
    ['a missing dictionary', undefined, ': cannot read (ENOENT)'],
    ['a binary dictionary', Buffer.from([0xd4, 0x53, 0x23, 0x00, 0x0a, 0x87]), ':1: not a text file (control character 0x00)'],
    ['a file that is no dictionary', 'listen 1812\nsecret foo\n', ': not a FreeRADIUS dictionary: 2 of 2 lines start with an unknown keyword (the first: line 1)'],
  ])('serve with %s names the config file, radius.dictionaries and the file', async (_name, content, message) => {
    const dict = path.join(dir, 'site.dict');
    fs.rmSync(dict, { force: true });
    if (content !== undefined) fs.writeFileSync(dict, content);
    const config = path.join(dir, 'dict.yaml');
    fs.writeFileSync(config, 'radius:\n  listen: ["127.0.0.1:0"]\n  dictionaries: [./site.dict]\nhttp:\n  listen: null\nlog:\n  level: silent\n');
    const r = await runCli(['serve', '-c', config], { cwd: dir, env: { RADOTP_DATABASE_URL: db.url }, timeoutMs: 20_000 });
    expect(r.stderr).toBe(`radotp: ${config}: radius.dictionaries.0: ${dict}${message}\n`);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
  });

  test('a bad $RADOTP_DATABASE_URL', async () => {
    const r = await runCli(['client', 'list'], { cwd: dir, env: { RADOTP_DATABASE_URL: 'mysql://x/y' } });
    expectOneLineError(r, /\$RADOTP_DATABASE_URL: expected a postgres:\/\/ URL/);
  });
});

describe('radotp init', () => {
  test('creates the key file (0600) where the config says, relative to the config file', async () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-cli-cwd-'));
    const r = await radotp(['init', '--config', path.join(dir, 'radotp.yaml')], undefined, elsewhere);
    expectSuccess(r, /^key file: .*\/keys\/master\.key \(key id [0-9a-f]+\)\ndatabase: ready\n$/);
    expect(r.stdout).toContain(keyFile());
    expect(fs.statSync(keyFile()).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(keyFile(), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(fs.readdirSync(elsewhere)).toEqual([]); // nothing created relative to the working directory
    fs.rmSync(elsewhere, { recursive: true });
  });

  test('creates dataDir for a keyFile in it (the default), on a first run', async () => {
    const config = path.join(dir, 'fresh.yaml');
    fs.writeFileSync(config, 'dataDir: ./fresh/data\nlog:\n  level: silent\n');
    expectSuccess(await radotp(['init', '-c', config]), /^key file: .*\/fresh\/data\/master\.key /);
    expect(fs.readFileSync(path.join(dir, 'fresh', 'data', 'master.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
  });

  test('refuses a keyFile in a folder that does not exist (a typo would start a new tree and a new key)', async () => {
    const config = path.join(dir, 'typo.yaml');
    fs.writeFileSync(config, 'dataDir: ./data\nkeyFile: ./kyes/master.key\nlog:\n  level: silent\n');
    expectOneLineError(await radotp(['init', '-c', config]), new RegExp(`^radotp: ${config}: keyFile: ${dir}/kyes/master\\.key: folder ${dir}/kyes does not exist\n$`));
    expect(fs.existsSync(path.join(dir, 'kyes'))).toBe(false);
  });

  test('a second init keeps the existing key', async () => {
    const before = fs.readFileSync(keyFile(), 'utf8');
    expectSuccess(await radotp(['init']), /^key file: /);
    expect(fs.readFileSync(keyFile(), 'utf8')).toBe(before);
  });

  test('init and db migrate print JSON with --json', async () => {
    const init = await radotp(['init', '--json']);
    expect(init.code).toBe(0);
    const data = JSON.parse(init.stdout);
    expect(data).toEqual({ keyFile: keyFile(), keyId: expect.stringMatching(/^[0-9a-f]{16}$/), database: 'configured', dataDir: expect.any(String) });
    const migrate = await radotp(['db', 'migrate', '--json']);
    expect(migrate.code).toBe(0);
    expect(JSON.parse(migrate.stdout)).toEqual({ applied: [] }); // init already applied every migration
  });
});

describe('a key file must be a regular file (reading /dev/zero or a FIFO never ended)', () => {
  let fifo: string;
  beforeAll(() => {
    fifo = path.join(dir, 'fifo.key');
    execFileSync('mkfifo', [fifo]);
  });
  afterAll(() => fs.rmSync(fifo, { force: true }));

  /** A config in the test folder; its own path is what messages name. */
  const configWith = (name: string, yaml: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `dataDir: ./data\nlog:\n  level: silent\n${yaml}`);
    return file;
  };
  /** A sparse file of 64 MiB and a byte in the test folder: no disk written. */
  const sparseFile = (name: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 64 * 1024 * 1024 + 1);
    return file;
  };
  // [what, args given the FIFO's path, message]
  const cases: [string, (fifo: string) => string[], (fifo: string) => string][] = [
    ['keyFile: /dev/zero', () => ['client', 'list', '-c', configWith('zero.yaml', 'keyFile: /dev/zero\n')], () => `${dir}/zero.yaml: keyFile: /dev/zero: cannot read (a character device, not a regular file)`],
    ['keyFile: a FIFO', (f) => ['client', 'list', '-c', configWith('fifo.yaml', `keyFile: ${f}\n`)], (f) => `${dir}/fifo.yaml: keyFile: ${f}: cannot read (a FIFO, not a regular file)`],
    ['keyFile: a folder', () => ['client', 'list', '-c', configWith('folder.yaml', 'keyFile: ./keys\n')], () => `${dir}/folder.yaml: keyFile: ${dir}/keys: cannot read (a folder, not a regular file)`],
    ['init with keyFile: a FIFO', (f) => ['init', '-c', configWith('fifo-init.yaml', `keyFile: ${f}\n`)], (f) => `${dir}/fifo-init.yaml: keyFile: ${f}: cannot read (a FIFO, not a regular file)`],
    [
      'previousKeyFiles: [a FIFO]',
      (f) => ['client', 'list', '-c', configWith('prev.yaml', `keyFile: ./keys/master.key\npreviousKeyFiles: [${f}]\n`)],
      (f) => `${dir}/prev.yaml: previousKeyFiles.0: ${f}: cannot read (a FIFO, not a regular file)`,
    ],
    ['keys rotate --new-key-file a FIFO', (f) => ['keys', 'rotate', '--new-key-file', f], (f) => `--new-key-file: ${f}: cannot read (a FIFO, not a regular file)`],
    ['token import --psk-file /dev/zero', () => ['token', 'import', 'radotp.yaml', '--psk-file', '/dev/zero'], () => 'cannot read transport key file /dev/zero (a character device, not a regular file)'],
    ['token import --psk-file a FIFO', (f) => ['token', 'import', 'radotp.yaml', '--psk-file', f], (f) => `cannot read transport key file ${f} (a FIFO, not a regular file)`],
    // a config file or a CSV may come from a pipe (`-c <(…)`, `user import <(gpg -d users.csv.gpg)`), but /dev/zero was read
    // until node aborted ("terminate called after throwing an instance of 'std::bad_alloc'", exit 134)
    ['--config /dev/zero', () => ['client', 'list', '-c', '/dev/zero'], () => '/dev/zero: cannot read config file (a character device, not a regular file or a pipe)'],
    ['user import /dev/zero', () => ['user', 'import', '/dev/zero'], () => 'cannot read /dev/zero (a character device, not a regular file or a pipe)'],
    // no bound: `-c <(yes)` was read until node ran out of memory (test/lang/regular-file.test.ts reads from a pipe)
    ['--config over 1 MiB (a config file is a few KiB)', () => ['client', 'list', '-c', sparseFile('big.yaml')], () => `${dir}/big.yaml: cannot read config file (larger than 1 MiB; is it the right file?)`],
    ['user import over 64 MiB', () => ['user', 'import', sparseFile('big.csv')], () => `cannot read ${dir}/big.csv (larger than 64 MiB; is it the right file?)`],
    // "EISDIR: illegal operation on a directory, read", naming no file
    ['token import a folder', () => ['token', 'import', 'keys'], () => 'cannot read keys (a folder, not a regular file or a pipe)'],
  ];
  test.each(cases)('%s is refused in one line, naming it', async (_name, args, message) => {
    const r = await runCli(args(fifo), { cwd: dir, env: { RADOTP_DATABASE_URL: db.url }, timeoutMs: 20_000 });
    expect(r.stderr).toBe(`radotp: ${message(fifo)}\n`);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
  });

  test('a config file and a CSV from a pipe are still read (bash <(…))', () => {
    const config = `<(printf 'keyFile: ${keyFile()}\\nlog:\\n  level: silent\\n')`;
    const csv = `<(printf 'username,password,method,token_serial\\npiped,,token,\\n')`;
    const out = execFileSync('bash', ['-c', `"${process.execPath}" "${RADOTP_BIN}" user import ${csv} --dry-run -c ${config}`], {
      cwd: dir,
      env: cliEnv({ RADOTP_DATABASE_URL: db.url }),
      encoding: 'utf8',
    });
    expect(out).toBe('would create 1 user(s), update 0, set 0 password(s), assign 0 token(s) (dry run: nothing written)\n');
  });
});

describe('radotp keys new', () => {
  test('writes a key file (0600) in a folder that exists', async () => {
    const file = path.join(dir, 'keys', 'next.key');
    expectSuccess(await radotp(['keys', 'new', file]), new RegExp(`^created ${file} \\(key id [0-9a-f]{16}\\)\\n$`));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  test('refuses a folder that does not exist, creating nothing', async () => {
    const file = path.join(dir, 'nonexistent', 'dir', 'k.key');
    expectOneLineError(await radotp(['keys', 'new', file]), new RegExp(`^radotp: key file ${file}: folder ${dir}/nonexistent/dir does not exist\\n$`));
    expect(fs.existsSync(path.join(dir, 'nonexistent'))).toBe(false);
  });
});

describe('radotp client', () => {
  test('add with --secret and with --secret-stdin', async () => {
    expectSuccess(await radotp(['client', 'add', 'vpn-1', '--address', '192.0.2.10', '--secret', SECRET]), /^client vpn-1 added\n$/);
    expectSuccess(
      await radotp(['client', 'add', 'campus', '--address', '10.0.0.0/8', '--secret-stdin', '--login', 'append'], `${SECRET}-stdin\n`),
      /^client campus added\n$/,
    );
  });

  test('a short secret is accepted with a one-line warning', async () => {
    const r = await radotp(['client', 'add', 'short', '--address', '198.51.100.7', '--secret', 'abc']);
    expect(r.code).toBe(0);
    expect(linesOf(r.stderr)).toEqual([expect.stringMatching(/^radotp: warning: shared secrets shorter than 16/)]);
  });

  test('list --json: names, addresses and settings, never the secret', async () => {
    const r = await radotp(['client', 'list', '--json']);
    expectSuccess(r, /^\[/);
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stdout).not.toMatch(/secret/i);
    const clients = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(clients).toEqual([
      { name: 'campus', address: '10.0.0.0/8', requireMessageAuthenticator: true, learnMessageAuthenticator: false, replyMessageAuthenticator: 'always', loginStyle: 'append', createdAt: expect.any(String) },
      { name: 'short', address: '198.51.100.7/32', requireMessageAuthenticator: true, learnMessageAuthenticator: false, replyMessageAuthenticator: 'always', loginStyle: 'challenge', createdAt: expect.any(String) },
      { name: 'vpn-1', address: '192.0.2.10/32', requireMessageAuthenticator: true, learnMessageAuthenticator: false, replyMessageAuthenticator: 'always', loginStyle: 'challenge', createdAt: expect.any(String) },
    ]);
    for (const c of clients) expect(new Date(c.createdAt as string).getTime()).not.toBeNaN();
  });

  test('list as a table, never the secret', async () => {
    const r = await radotp(['client', 'list']);
    expectSuccess(r, /^NAME +ADDRESS +MESSAGE-AUTHENTICATOR +LOGIN +M-A IN REPLIES\n/);
    expect(linesOf(r.stdout)).toHaveLength(4);
    expect(r.stdout).toMatch(/^vpn-1 +192\.0\.2\.10\/32 +required +challenge +always$/m);
    expect(r.stdout).not.toContain(SECRET);
  });

  test('the secret given on stdin is the one the server will use', async () => {
    const secrets = await withStoreOfTestFolder((s) => s.clients.listWithSecrets());
    expect(Object.fromEntries(secrets.map((c) => [c.name, c.secret.toString()]))).toEqual({ campus: `${SECRET}-stdin`, short: 'abc', 'vpn-1': SECRET });
  });

  test('set changes what it is given and nothing else', async () => {
    // the warning `client add` gives for no, which `client set` did not give
    const unsigned = await radotp(['client', 'set', 'vpn-1', '--login', 'otp-only', '--require-message-authenticator', 'no']);
    expect({ code: unsigned.code, stdout: unsigned.stdout }).toEqual({ code: 0, stdout: 'client vpn-1 updated\n' });
    expect(linesOf(unsigned.stderr)).toEqual(['radotp: warning: this client may send requests without Message-Authenticator (CVE-2024-3596)']);
    expectSuccess(await radotp(['client', 'set', 'campus', '--address', '172.16.0.0/12']), /^client campus updated\n$/);
    // a NAS that drops replies holding a Message-Authenticator: a warning says what that gives up
    const r = await radotp(['client', 'set', 'short', '--reply-message-authenticator', 'if-requested']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: 'client short updated\n' });
    expect(linesOf(r.stderr)).toEqual([expect.stringMatching(/^radotp: warning: replies to this client carry Message-Authenticator only when its request does; .*CVE-2024-3596/)]);
    type Listed = { name: string; address: string; requireMessageAuthenticator: boolean; replyMessageAuthenticator: string; loginStyle: string };
    const clients = JSON.parse((await radotp(['client', 'list', '--json'])).stdout) as Listed[];
    expect(clients.map(({ createdAt: _, ...c }: Listed & { createdAt?: string }) => c)).toEqual([
      { name: 'campus', address: '172.16.0.0/12', requireMessageAuthenticator: true, learnMessageAuthenticator: false, replyMessageAuthenticator: 'always', loginStyle: 'append' },
      { name: 'short', address: '198.51.100.7/32', requireMessageAuthenticator: true, learnMessageAuthenticator: false, replyMessageAuthenticator: 'if-requested', loginStyle: 'challenge' },
      { name: 'vpn-1', address: '192.0.2.10/32', requireMessageAuthenticator: false, learnMessageAuthenticator: false, replyMessageAuthenticator: 'always', loginStyle: 'otp-only' },
    ]);
  });

  test('--require-message-authenticator auto: listed as auto, with a warning; yes or no ends it', async () => {
    const r = await radotp(['client', 'add', 'auto-nas', '--address', '192.0.2.30', '--secret', SECRET, '--require-message-authenticator', 'auto']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: 'client auto-nas added\n' });
    expect(linesOf(r.stderr)).toEqual([
      'radotp: warning: this client may send requests without Message-Authenticator until one of its NASes has sent one; then that NAS must (CVE-2024-3596)',
    ]);
    expect((await radotp(['client', 'list'])).stdout).toMatch(/^auto-nas +192\.0\.2\.30\/32 +auto +challenge +always$/m);
    const listed = async () =>
      (JSON.parse((await radotp(['client', 'list', '--json'])).stdout) as { name: string; requireMessageAuthenticator: boolean; learnMessageAuthenticator: boolean }[])
        .filter((c) => c.name === 'auto-nas')
        .map(({ requireMessageAuthenticator, learnMessageAuthenticator }) => ({ requireMessageAuthenticator, learnMessageAuthenticator }));
    expect(await listed()).toEqual([{ requireMessageAuthenticator: false, learnMessageAuthenticator: true }]);
    expectSuccess(await radotp(['client', 'set', 'auto-nas', '--require-message-authenticator', 'yes']), /^client auto-nas updated\n$/);
    expect(await listed()).toEqual([{ requireMessageAuthenticator: true, learnMessageAuthenticator: false }]);
    expect(linesOf((await radotp(['client', 'set', 'auto-nas', '--require-message-authenticator', 'auto'])).stderr)).toEqual([expect.stringMatching(/until one of its NASes has sent one/)]);
    expect(await listed()).toEqual([{ requireMessageAuthenticator: false, learnMessageAuthenticator: true }]);
    expectSuccess(await radotp(['client', 'remove', 'auto-nas']), /^client auto-nas removed\n$/);
  });

  // [case, arguments, standard input, message, exit code: 2 for a command called wrongly]
  const refusals: [string, string[], string | undefined, RegExp, number?][] = [
    ['no secret at all', ['add', 'no-secret', '--address', '192.0.2.21'], undefined, /a shared secret is required/, 2],
    ['empty secret on stdin', ['add', 'empty-secret', '--address', '192.0.2.22', '--secret-stdin'], '', /the shared secret on standard input is empty/],
    ['two secrets', ['add', 'two-secrets', '--address', '192.0.2.23', '--secret', SECRET, '--secret-stdin'], SECRET, /give --secret or --secret-stdin, not both/, 2],
    ['a name with a space', ['add', 'bad name', '--address', '192.0.2.24', '--secret', SECRET], undefined, /client names are 1-64 letters/, 2],
    ['duplicate name', ['add', 'vpn-1', '--address', '192.0.2.25', '--secret', SECRET], undefined, /client "vpn-1" already exists/],
    // the same NAS in its IPv4-mapped form: a second client (another secret) for the address vpn-1 has
    ['a taken address written IPv4-mapped', ['add', 'vpn-2', '--address', '::ffff:192.0.2.10', '--secret', SECRET], undefined, /network 192\.0\.2\.10\/32 already belongs to client "vpn-1"/],
    ['remove an unknown name', ['remove', 'ghost'], undefined, /no client named "ghost"/],
    ['set an unknown name', ['set', 'ghost', '--login', 'append'], undefined, /no client named "ghost"/],
    ['set with nothing to change', ['set', 'vpn-1'], undefined, /nothing to change/, 2],
    // the message was cut at the line break: 'no client named "gh' (and an escape sequence reached the terminal as it was)
    ['remove a name with a line break', ['remove', 'gh\nost'], undefined, /^radotp: no client named "gh\\nost"\n$/],
    ['remove a name with an escape sequence', ['remove', 'gh\x1b[31most'], undefined, /^radotp: no client named "gh\\x1b\[31most"\n$/],
  ];
  // `code = 1` as a default, not a fifth value in every row: jest takes a callback declaring more parameters
  // than a row has values for one that wants `done`, and waits for it
  test.each(refusals)('refused: %s', async (_name, args, stdin, message, code = 1) => {
    expectOneLineError(await radotp(['client', ...args], stdin), message, code);
  });

  test('a reply setting that does not exist is a usage error naming the choices', async () => {
    const r = await radotp(['client', 'set', 'vpn-1', '--reply-message-authenticator', 'never']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
    expect(linesOf(r.stderr)).toEqual([
      "error: option '--reply-message-authenticator <when>' argument 'never' is invalid. Allowed choices are always, if-requested.",
    ]);
  });

  test('refused commands changed nothing', async () => {
    const names = (JSON.parse((await radotp(['client', 'list', '--json'])).stdout) as { name: string }[]).map((c) => c.name);
    expect(names).toEqual(['campus', 'short', 'vpn-1']);
  });

  test('init/serve with a mistyped keyFile, once the database holds secrets: refused, and no new key made', async () => {
    const typo = path.join(dir, 'typo.yaml');
    fs.writeFileSync(typo, 'dataDir: ./data\nkeyFile: ./keys/master.kye\nlog:\n  level: silent\n');
    const keyId = JSON.parse((await radotp(['keys', 'status', '--json'])).stdout)[0].keyId as string;
    for (const command of ['init', 'serve']) {
      const r = await radotp([command, '--config', typo]);
      expectOneLineError(r, new RegExp(`^radotp: ${typo}: keyFile: ${path.join(dir, 'keys', 'master.kye')} does not exist, but the database holds secrets sealed with key ${keyId}; point keyFile at that key's file`));
      expect(fs.existsSync(path.join(dir, 'keys', 'master.kye'))).toBe(false);
    }
  });

  test('a database that does not answer: one line saying so (not a migration failing)', async () => {
    const r = await runCli(['client', 'list'], { cwd: dir, env: { RADOTP_DATABASE_URL: 'postgres://x:y@127.0.0.1:1/z' } });
    expectOneLineError(r, /^radotp: cannot reach the database: connect ECONNREFUSED 127\.0\.0\.1:1\n$/);
  });

  test("a process warning is one line: the pg driver's ten-line notice on sslmode=require", async () => {
    const r = await runCli(['client', 'list'], { cwd: dir, env: { RADOTP_DATABASE_URL: 'postgres://x:y@127.0.0.1:1/z?sslmode=require' } });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    expect(linesOf(r.stderr)).toEqual([
      "radotp: warning: SECURITY WARNING: The SSL modes 'prefer', 'require', and 'verify-ca' are treated as aliases for 'verify-full'.",
      'radotp: cannot reach the database: connect ECONNREFUSED 127.0.0.1:1',
    ]);
  });

  test('a database name that does not exist: one line naming it as a connection problem (not the schema version)', async () => {
    const url = new URL(db.url);
    url.pathname = '/radotp_no_such_database';
    const r = await runCli(['client', 'list'], { cwd: dir, env: { RADOTP_DATABASE_URL: url.toString() } });
    expectOneLineError(r, /^radotp: cannot connect to the database: database "radotp_no_such_database" does not exist\n$/);
  });

  test('output cut short by its reader (`| head -1`) is no error: exit 0, nothing on stderr', async () => {
    const child = spawn(process.execPath, [RADOTP_BIN, 'client', 'list'], { cwd: dir, env: cliEnv({ RADOTP_DATABASE_URL: db.url }), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before the list is written
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('a second client for the same network is refused (the server could not load both)', async () => {
    // ClientTable refuses two clients for one network (the server could not tell whose secret applies), so the
    // store refuses the second one at once: accepted, it would stop `serve` from starting and freeze running
    // servers' client tables.
    try {
      expectOneLineError(
        await radotp(['client', 'add', 'campus-again', '--address', '172.16.0.0/12', '--secret', SECRET]),
        /same network as client "campus"|172\.16\.0\.0\/12.*campus/,
      );
    } finally {
      await radotp(['client', 'remove', 'campus-again']); // should it ever be accepted, later tests still see the same clients
    }
  });

  test('remove', async () => {
    expectSuccess(await radotp(['client', 'remove', 'short']), /^client short removed\n$/);
    const names = (JSON.parse((await radotp(['client', 'list', '--json'])).stdout) as { name: string }[]).map((c) => c.name);
    expect(names).toEqual(['campus', 'vpn-1']);
  });
});

describe('shared secrets are stored sealed', () => {
  const DISTINCTIVE = 'Zq8-sealed-secret-canary-4f1e9b2d';

  /** Every byte of the database as pg_dump sees it (bytea columns appear as \x-hex). */
  function dumpDatabase(): string {
    return execFileSync('pg_dump', ['--no-owner', '--data-only', db.url], { encoding: 'utf8', maxBuffer: 64 << 20 });
  }

  test('pg_dump holds neither the secret text nor its hex, while the server can still open it', async () => {
    expectSuccess(await radotp(['client', 'add', 'canary', '--address', '203.0.113.9', '--secret', DISTINCTIVE]), /added/);
    const dump = dumpDatabase();
    expect(dump).toContain('canary'); // the row is in the dump: the search below looks at the right data
    expect(dump).toContain('203.0.113.9/32');
    const hex = Buffer.from(DISTINCTIVE).toString('hex');
    expect(dump).not.toContain(DISTINCTIVE);
    expect(dump.toLowerCase()).not.toContain(hex);
    expect(dump).not.toContain(Buffer.from(DISTINCTIVE).toString('base64').slice(0, 24));
    const opened = await withStoreOfTestFolder((s) => s.clients.listWithSecrets());
    expect(opened.find((c) => c.name === 'canary')?.secret.toString()).toBe(DISTINCTIVE);
  });

  test('a changed secret is sealed too', async () => {
    const NEW_SECRET = 'Zq8-rotated-secret-canary-77aa01';
    expectSuccess(await radotp(['client', 'set', 'canary', '--secret-stdin'], `${NEW_SECRET}\n`), /updated/);
    const dump = dumpDatabase();
    expect(dump).not.toContain(NEW_SECRET);
    expect(dump.toLowerCase()).not.toContain(Buffer.from(NEW_SECRET).toString('hex'));
    const opened = await withStoreOfTestFolder((s) => s.clients.listWithSecrets());
    expect(opened.find((c) => c.name === 'canary')?.secret.toString()).toBe(NEW_SECRET);
  });
});

describe('radotp user', () => {
  const storedHash = (username: string) => withStoreOfTestFolder(async (s) => (await s.users.get(username)).passwordHash);

  test('add with --password-stdin stores an argon2id hash of that password', async () => {
    expectSuccess(await radotp(['user', 'add', 'alice', '--password-stdin'], 'first password\n'), /^user alice added \(method password\)\n$/);
    const hash = await storedHash('alice');
    expect(hash).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(hash!, Buffer.from('first password'))).toBe(true);
  });

  test('add without a password, with a method', async () => {
    expectSuccess(await radotp(['user', 'add', 'bob', '--method', 'token']), /^user bob added \(method token, no local password\)\n$/);
    expect(await storedHash('bob')).toBeNull();
  });

  test('list --json: no hash, only whether a password is set', async () => {
    const r = await radotp(['user', 'list', '--json']);
    expectSuccess(r, /^\[/);
    expect(r.stdout).not.toMatch(/argon2/);
    expect(JSON.parse(r.stdout)).toEqual([
      { username: 'alice', method: 'password', hasPassword: true, lockedUntil: null, createdAt: expect.any(String) },
      { username: 'bob', method: 'token', hasPassword: false, lockedUntil: null, createdAt: expect.any(String) },
    ]);
  });

  test('list as a table', async () => {
    const r = await radotp(['user', 'list']);
    expectSuccess(r, /^USERNAME +METHOD +PASSWORD +LOCKED UNTIL +CREATED\n/);
    expect(r.stdout).toMatch(/^alice +password +set +- +\d{4}-/m);
    expect(r.stdout).toMatch(/^bob +token +none +- +\d{4}-/m);
  });

  test('show --json', async () => {
    const r = await radotp(['user', 'show', 'alice', '--json']);
    expectSuccess(r, /^\{/);
    expect(JSON.parse(r.stdout)).toEqual({
      username: 'alice',
      method: 'password',
      hasPassword: true,
      wrongPasswords: 0,
      lockedUntil: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      tokens: [],
    });
  });

  test('show as fields', async () => {
    const r = await radotp(['user', 'show', 'bob']);
    expectSuccess(r, /^username: +bob\nmethod: +token\npassword: +none\n/);
    expect(r.stdout).toMatch(/^tokens: +none$/m);
  });

  test('passwd replaces the password', async () => {
    expectSuccess(await radotp(['user', 'passwd', 'alice', '--password-stdin'], 'second password\n'), /^password of alice changed\n$/);
    const hash = await storedHash('alice');
    expect(await verifyPassword(hash!, Buffer.from('second password'))).toBe(true);
    expect(await verifyPassword(hash!, Buffer.from('first password'))).toBe(false);
  });

  test('set changes the method', async () => {
    const r = await radotp(['user', 'set', 'alice', '--method', 'token']);
    expect(r.stdout).toBe('user alice now uses method token\n');
    // alice has no token yet: every login of hers is refused from now until one is active (test/e2e/token-pool.test.ts)
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/^radotp: warning: alice has no active token: their logins are refused \(no_token\)/) });
    expect(JSON.parse((await radotp(['user', 'show', 'alice', '--json'])).stdout)).toMatchObject({ method: 'token', hasPassword: true });
  });

  // [case, arguments, standard input, message, exit code: 2 for a command called wrongly]
  const refusals: [string, string[], string | undefined, RegExp, number?][] = [
    ['empty password on stdin', ['add', 'carol', '--password-stdin'], '', /the password on standard input is empty/],
    ['a bare newline as the password', ['add', 'carol', '--password-stdin'], '\n', /the password on standard input is empty/],
    ['two lines on stdin', ['add', 'carol', '--password-stdin'], 'one\ntwo\n', /must be a single line/],
    ['more than 64 KiB on stdin (a wrong file, /dev/zero)', ['add', 'carol', '--password-stdin'], 'x'.repeat(70 * 1024), /the password on standard input is longer than 64 KiB/],
    ['a control character in the name', ['add', 'car\tol'], undefined, /usernames must not contain control characters/, 2],
    ['duplicate user', ['add', 'alice', '--password-stdin'], 'whatever\n', /user "alice" already exists/],
    ['show an unknown user', ['show', 'mallory'], undefined, /no user named "mallory"/],
    ['passwd of an unknown user', ['passwd', 'mallory', '--password-stdin'], 'pw\n', /no user named "mallory"/],
    ['passwd with empty stdin', ['passwd', 'alice', '--password-stdin'], '', /the password on standard input is empty/],
    ['set an unknown user', ['set', 'mallory', '--method', 'token'], undefined, /no user named "mallory"/],
    ['set with nothing to change', ['set', 'alice'], undefined, /nothing to change/, 2],
    ['remove an unknown user', ['remove', 'mallory'], undefined, /no user named "mallory"/],
  ];
  test.each(refusals)('refused: %s', async (_name, args, stdin, message, code = 1) => {
    expectOneLineError(await radotp(['user', ...args], stdin), message, code);
  });

  test('refused commands changed nothing', async () => {
    const users = JSON.parse((await radotp(['user', 'list', '--json'])).stdout) as { username: string }[];
    expect(users.map((u) => u.username)).toEqual(['alice', 'bob']);
    expect(await verifyPassword((await storedHash('alice'))!, Buffer.from('second password'))).toBe(true);
  });

  test('remove', async () => {
    expectSuccess(await radotp(['user', 'remove', 'bob']), /^user bob removed\n$/);
    expectOneLineError(await radotp(['user', 'show', 'bob']), /no user named "bob"/);
  });
});

describe("admins' changes to clients and users are audited, with who made them (never a secret)", () => {
  const SUBJECT_SECRET = 'audited-nas-secret-5b8e2c41d7';
  // [command, stdin, the audit row it leaves: method, reason, and part of its detail]
  const steps: [string[], string | undefined, { method: string; reason: string; detail?: Record<string, unknown> }][] = [
    [['client', 'add', 'audited-nas', '--address', '198.51.100.7', '--secret-stdin'], `${SUBJECT_SECRET}\n`, { method: 'client add', reason: 'added', detail: { address: '198.51.100.7/32', loginStyle: 'challenge' } }],
    [['client', 'set', 'audited-nas', '--secret-stdin', '--login', 'otp-only'], `${SUBJECT_SECRET}-2\n`, { method: 'client set', reason: 'changed', detail: { loginStyle: 'otp-only', secretChanged: true } }],
    [['client', 'remove', 'audited-nas'], undefined, { method: 'client remove', reason: 'removed' }],
    [['user', 'add', 'audrey', '--password-stdin'], 'audrey-password\n', { method: 'user add', reason: 'added', detail: { authMethod: 'password', localPassword: true } }],
    [['user', 'set', 'audrey', '--method', 'token'], undefined, { method: 'user set', reason: 'changed', detail: { authMethod: 'token' } }],
    [['user', 'passwd', 'audrey', '--password-stdin'], 'audrey-password-2\n', { method: 'user passwd', reason: 'password_set' }],
    [['user', 'remove', 'audrey'], undefined, { method: 'user remove', reason: 'removed' }],
  ];

  test('client add/set/remove and user add/set/passwd/remove: one row each, naming the admin', async () => {
    for (const [args, stdin] of steps) {
      const r = await runCli(args, { cwd: dir, stdin, env: { RADOTP_DATABASE_URL: db.url, SUDO_USER: 'alice' } });
      // audrey, switched to method token, has no token: user set warns so (and writes its row as ever)
      const warning = /^radotp: warning: audrey has no active token: .*\n$/;
      expect({ args, code: r.code, stderr: r.stderr.replace(warning, '') }).toEqual({ args, code: 0, stderr: '' });
    }
    const rows = await withStoreOfTestFolder((store) => store.audit.recent({ limit: 1000 }));
    const ours = rows.filter((r) => r.client === 'audited-nas' || r.username === 'audrey').sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(ours.map((r) => ({ method: r.method, reason: r.reason }))).toEqual(steps.map(([, , row]) => ({ method: row.method, reason: row.reason })));
    ours.forEach((r, i) => expect(r).toMatchObject({ result: 'admin', detail: { admin: 'alice via sudo', ...steps[i]![2].detail } }));
    expect(JSON.stringify(ours.map((r) => r.detail))).not.toMatch(/audited-nas-secret|audrey-password/);
    // the table says what was changed (the client, the user) and, in BY, who changed it
    const table = await radotp(['audit', '--limit', '1000']);
    expect(table.stdout).toMatch(/\saudited-nas\s+-\s+admin\s+added\s+client add\s+-\s+alice via sudo$/m);
    expect(table.stdout).toMatch(/\s-\s+audrey\s+admin\s+removed\s+user remove\s+-\s+alice via sudo$/m);
  });
});

describe('an admin change whose audit row cannot be written is not made at all', () => {
  // A trigger refuses the audit rows of anything named doomed* (or imported from such a file): the change and
  // its row share one transaction.
  beforeAll(() =>
    withStoreOfTestFolder(async (store) => {
      await sql`CREATE FUNCTION refuse_doomed_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.username LIKE 'doomed%' OR NEW.client LIKE 'doomed%' OR NEW.token_serial LIKE 'DOOMED%' OR NEW.detail->>'file' LIKE '%doomed%' THEN
            RAISE EXCEPTION 'audit row refused by the test';
          END IF;
          RETURN NEW;
        END $$`.execute(store.db);
      await sql`CREATE TRIGGER refuse_doomed_audit BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION refuse_doomed_audit()`.execute(store.db);
      await store.tokens.create({ serial: 'DOOMED-1', userId: null, origin: 'hardware', kind: 'hotp', state: 'unassigned', algorithm: 'sha1', digits: 6, seed: Buffer.alloc(20, 1) });
      await sql`UPDATE token SET fail_count = 3 WHERE serial = 'DOOMED-1'`.execute(store.db);
    }),
  );
  afterAll(() =>
    withStoreOfTestFolder(async (store) => {
      await sql`DROP TRIGGER refuse_doomed_audit ON audit_event; DROP FUNCTION refuse_doomed_audit()`.execute(store.db);
    }),
  );

  const csv = () => {
    const file = path.join(dir, 'doomed-users.csv');
    fs.writeFileSync(file, 'username,password,method,token_serial\ndoomed-importee,,token,\n');
    return file;
  };
  // [command, stdin, what must still be as it was]
  const cases: [string, () => string[], string | undefined, (store: Store) => Promise<unknown>, unknown][] = [
    ['user add', () => ['user', 'add', 'doomed-user'], undefined, (s) => s.users.find('doomed-user'), undefined],
    ['client add', () => ['client', 'add', 'doomed-nas', '--address', '203.0.113.77', '--secret-stdin'], `${SECRET}\n`, async (s) => (await s.clients.list()).some((c) => c.name === 'doomed-nas'), false],
    ['token unlock', () => ['token', 'unlock', 'DOOMED-1'], undefined, async (s) => (await s.tokens.get('DOOMED-1')).failCount, 3],
    ['token delete', () => ['token', 'delete', 'DOOMED-1'], undefined, async (s) => (await s.tokens.get('DOOMED-1')).serial, 'DOOMED-1'],
    ['user import', () => ['user', 'import', csv()], undefined, (s) => s.users.find('doomed-importee'), undefined],
  ];

  test.each(cases)('%s: refused, and nothing changed', async (_name, args, stdin, read, unchanged) => {
    expectOneLineError(await radotp(args(), stdin), /audit row refused by the test/);
    expect(await withStoreOfTestFolder(read)).toEqual(unchanged);
  });
});

describe('radotp audit prune', () => {
  const DAY = 86_400_000;
  const seeded = () =>
    withStoreOfTestFolder(async (store) => (await sql<{ reason: string }>`SELECT reason FROM audit_event WHERE node = 'seeded' ORDER BY at`.execute(store.db)).rows.map((r) => r.reason));
  beforeAll(() =>
    withStoreOfTestFolder((store) =>
      store.audit.insertJson(JSON.stringify([400, 40, 10].map((days) => ({ at: Date.now() - days * DAY, node: 'seeded', username: 'old', result: 'reject', reason: `${days}d` })))),
    ),
  );

  test('100 years (36500d) is the oldest cut-off, and a date PostgreSQL takes', async () => {
    const r = await radotp(['audit', 'prune', '--older-than', '36500d', '--dry-run', '--json']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ dryRun: true, before: expect.stringMatching(/^19\d\d-/), deleted: 0 });
  });

  test('a dry run counts and deletes nothing; a real one deletes, with its audit row naming the admin', async () => {
    const dry = await radotp(['audit', 'prune', '--older-than', '30d', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({ dryRun: true, before: expect.any(String), deleted: 2 });
    expect(await seeded()).toEqual(['400d', '40d', '10d']);

    const r = await runCli(['audit', 'prune', '--older-than', '30d'], { cwd: dir, env: { RADOTP_DATABASE_URL: db.url, SUDO_USER: 'alice' } });
    expectSuccess(r, /^deleted 2 audit event\(s\) from before \d{4}-\d\d-\d\dT/);
    expect(await seeded()).toEqual(['10d']);
    const [newest] = await withStoreOfTestFolder((store) => store.audit.recent({ limit: 1 }));
    expect(newest).toMatchObject({ result: 'admin', method: 'audit prune', reason: 'pruned', detail: { deleted: 2, admin: 'alice via sudo' } });

    // `audit` itself still lists the trail (prune is a subcommand, not a replacement)
    expectSuccess(await radotp(['audit', '--limit', '1']), /^\S+\s+\S+\s+-\s+-\s+admin\s+pruned\s+audit prune\s+-\s+alice via sudo$/m);
  });
});
