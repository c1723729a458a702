import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { verifyPassword } from '../../src/auth/password-hash';
import { cliEnv, RADOTP_BIN, runCli } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * `radotp user add alice --password-stdin` typed at a terminal (README's "then type the secret"): radotp read
 * standard input to its end with no prompt, so the command sat there as if hung, and the terminal showed the
 * password as it was typed (and left it in the scrollback). At a terminal it now asks, on stderr, for one line
 * with echo off, and puts echo back. Run under a real pseudo-terminal (util-linux `script`); the secret is
 * typed only once the prompt is shown, as a person would.
 */

const SECRET = 'Typed-at-a-terminal-9c2e1';

let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-prompt-'));
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nkeyFile: ./data/master.key\nlog:\n  level: silent\n');
  const init = await runCli(['init'], { cwd: dir, env: { RADOTP_DATABASE_URL: db.url }, timeoutMs: 60_000 });
  if (init.code !== 0) throw new Error(init.stderr);
  const alice = await runCli(['user', 'add', 'alice'], { cwd: dir, env: { RADOTP_DATABASE_URL: db.url }, timeoutMs: 60_000 });
  if (alice.code !== 0) throw new Error(alice.stderr);
});
afterAll(async () => {
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `radotp ARGS` on a terminal, then `stty -a` on the same terminal (whether echo came back). Types `typed`
 * and Enter once `prompt` is on the screen. Returns everything the terminal showed, and radotp's exit code.
 */
function onTerminal(args: string[], prompt: string, typed: string): Promise<{ screen: string; code: string }> {
  const command = `${[process.execPath, RADOTP_BIN, ...args].map(quote).join(' ')}; echo "exit=$?"; stty -a`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: dir, env: cliEnv({ RADOTP_DATABASE_URL: db.url }), stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let typedYet = false;
    const type = (): void => {
      if (typedYet) return;
      typedYet = true;
      child.stdin.write(`${typed}\r`);
    };
    // No prompt in sight after a while: type anyway, and end the input (Ctrl-D), as someone would at a
    // command that seems to wait, so that a radotp reading to the end of its input finishes (and fails the test).
    const impatient = setTimeout(() => {
      type();
      child.stdin.write('\x04');
    }, 15_000);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      screen += d;
      if (screen.includes(prompt)) type();
    });
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(impatient);
      clearTimeout(timer);
      resolve({ screen, code: /exit=(\d+)/.exec(screen)?.[1] ?? 'none' });
    });
  });
}

async function passwordHashOf(username: string): Promise<string> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query('SELECT password_hash FROM app_user WHERE username = $1', [username])).rows[0].password_hash;
  } finally {
    await client.end();
  }
}

// [the command, the prompt it shows, how to tell the typed secret was taken]
const rows: [string, string[], string, () => Promise<boolean>][] = [
  ['user add --password-stdin', ['user', 'add', 'bob', '--password-stdin'], 'Enter the password', async () => verifyPassword(await passwordHashOf('bob'), Buffer.from(SECRET))],
  ['user passwd --password-stdin', ['user', 'passwd', 'alice', '--password-stdin'], 'Enter the password', async () => verifyPassword(await passwordHashOf('alice'), Buffer.from(SECRET))],
  [
    'client add --secret-stdin',
    ['client', 'add', 'nas', '--address', '192.0.2.1', '--secret-stdin'],
    'Enter the shared secret',
    async () => (await runCli(['client', 'list'], { cwd: dir, env: { RADOTP_DATABASE_URL: db.url } })).stdout.includes('192.0.2.1/32'),
  ],
];

test.each(rows)('%s at a terminal: asks, does not show what is typed, takes it, and puts echo back', async (_name, args, prompt, taken) => {
  const { screen, code } = await onTerminal(args, prompt, SECRET);
  expect(screen).toContain(prompt);
  expect(screen).not.toContain(SECRET);
  expect(code).toBe('0');
  expect(await taken()).toBe(true);
  expect(screen).toMatch(/(^|[\s;])echo([\s;]|$)/m);
  expect(screen).not.toMatch(/(^|[\s;])-echo([\s;]|$)/m);
}, 90_000);

test('from a pipe: no prompt, as before', async () => {
  const r = await runCli(['user', 'add', 'carol', '--password-stdin'], { cwd: dir, env: { RADOTP_DATABASE_URL: db.url }, stdin: `${SECRET}\n`, timeoutMs: 60_000 });
  expect([r.code, r.stderr]).toEqual([0, '']);
  expect(await verifyPassword(await passwordHashOf('carol'), Buffer.from(SECRET))).toBe(true);
});
