import { sql } from 'kysely';
import { hashPassword } from '../../src/auth/password-hash';
import type { Store } from '../../src/store/open';
import { linesOf, runCli, type CliResult } from './cli';
import type { TestServer } from './server';

/** `radotp ARGS…` as a real process against a test server's database (its radotp.yaml). */
export type Cli = (args: readonly string[], stdin?: string) => Promise<CliResult>;

export function cliFor(t: Pick<TestServer, 'configFile'>): Cli {
  return (args, stdin) => runCli(args, { env: { RADOTP_CONFIG: t.configFile }, stdin, timeoutMs: 120_000 });
}

/** Runs a command that must succeed; on failure the error shows what it printed. */
export async function ok(cli: Cli, args: readonly string[], stdin?: string): Promise<string> {
  const r = await cli(args, stdin);
  if (r.code !== 0) throw new Error(`radotp ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A refused command: non-zero exit, nothing on stdout, exactly one line on stderr. Returns that line. */
export function refusalLine(r: CliResult): string {
  expect({ code: r.code === 0 ? 0 : 'non-zero', stdout: r.stdout, lines: linesOf(r.stderr).length }).toEqual({ code: 'non-zero', stdout: '', lines: 1 });
  return r.stderr.trim();
}

export async function tokenCount(store: Pick<Store, 'db'>): Promise<number> {
  const r = await sql<{ n: string }>`SELECT count(*) AS n FROM token`.execute(store.db);
  return Number(r.rows[0].n);
}

export async function userCount(store: Pick<Store, 'db'>): Promise<number> {
  const r = await sql<{ n: string }>`SELECT count(*) AS n FROM app_user`.execute(store.db);
  return Number(r.rows[0].n);
}

let userSerial = 0;

/** A fresh token-method user with a random password, created through the admin store. */
export async function newTokenUser(t: Pick<TestServer, 'store'>, prefix = 'user'): Promise<{ username: string; password: string }> {
  const username = `${prefix}-${process.pid}-${++userSerial}`;
  const password = `pw ${Math.random().toString(36).slice(2)}`;
  await t.store.users.add({ username, passwordHash: await hashPassword(password), method: 'token' });
  return { username, password };
}
