import { spawn } from 'node:child_process';
import path from 'node:path';

export interface CliResult {
  /** Exit code, or null when the process was killed (by a signal or our timeout). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Working directory (where ./radotp.yaml is looked for). */
  readonly cwd?: string;
  /** Added to the environment; `undefined` removes a variable. */
  readonly env?: Record<string, string | undefined>;
  /** Written to standard input, which is then closed (closed at once when absent). */
  readonly stdin?: string;
  readonly timeoutMs?: number;
  /** Run it as this user (root only): a service account's own command, where the test plays `sudo radotp …` too. */
  readonly as?: RunAsUser;
}

export interface RunAsUser {
  readonly uid: number;
  readonly gid: number;
}

export const RADOTP_BIN = path.resolve(__dirname, '../../bin/radotp.js');

/** Variables of the jest process that would silently change what the CLI reads. */
const INHERITED_CONFIG_VARIABLES = ['RADOTP_CONFIG', 'RADOTP_DATABASE_URL', 'RADOTP_DEBUG'];

/** The environment a spawned `radotp` gets: always the TypeScript sources (RADOTP_FROM_SOURCE), never a stale dist/. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RADOTP_FROM_SOURCE: '1' };
  for (const name of INHERITED_CONFIG_VARIABLES) delete env[name];
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** Runs `radotp ARGS…` as a real process and collects what it printed. */
export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RADOTP_BIN, ...args], { cwd: opts.cwd, env: cliEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'], ...opts.as });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // A hung command must fail its test with what it printed so far, not time out jest silently.
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the command may exit before reading its input
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Lines of a stream's text, without the empty one after the final newline. */
export function linesOf(text: string): string[] {
  return text.split('\n').filter((line, i, all) => !(line === '' && i === all.length - 1));
}

/**
 * `radotp` run in a folder against a test database, both known only once beforeAll has run (hence `where`);
 * `ok` insists on exit 0 with nothing on stderr and gives stdout, else fails with what the command printed.
 */
export function cliIn(where: () => { cwd: string; databaseUrl: string }, timeoutMs = 60_000) {
  const radotp = (args: string[]): Promise<CliResult> => {
    const { cwd, databaseUrl } = where();
    return runCli(args, { cwd, env: { RADOTP_DATABASE_URL: databaseUrl }, timeoutMs });
  };
  const ok = async (args: string[]): Promise<string> => {
    const r = await radotp(args);
    if (r.code !== 0 || r.stderr !== '') throw new Error(`radotp ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  return { radotp, ok };
}
