import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresRunAs, spawnIdentity } from '../../src/store/embedded/postgres-user';
import { freePort, waitFor } from './serve-process';

/*
 * A real PgBouncer (Debian's `pgbouncer` package, which scripts/quickstart.sh installs for the tests) in front
 * of the test PostgreSQL, the way operators run one. PgBouncer refuses to run as root ("PgBouncer should not
 * run as root"): as root it runs as the same user as the test PostgreSQL (see postgresRunAs).
 */

export const PGBOUNCER_BIN = '/usr/sbin/pgbouncer';

export interface PgBouncer {
  readonly port: number;
  readonly mode: 'session' | 'transaction';
  /** `databaseUrl` (a test database's URL) with its host and port swapped for this PgBouncer's. */
  via(databaseUrl: string): string;
  /** What PgBouncer logged (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts PgBouncer in `mode` in front of the server of `databaseUrl` (any of its databases; trust auth, loopback only). */
export async function startPgBouncer(databaseUrl: string, mode: PgBouncer['mode']): Promise<PgBouncer> {
  const target = new URL(databaseUrl);
  const runAs = postgresRunAs();
  const dir = mkdtempSync(join(tmpdir(), 'radotp-pgbouncer-'));
  chmodSync(dir, 0o755);
  const port = await freePort('tcp');
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(join(dir, 'users.txt'), `"${decodeURIComponent(target.username)}" ""\n`);
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      `pool_mode = ${mode}`,
      'max_client_conn = 200',
      'default_pool_size = 40',
      '',
    ].join('\n'),
  );
  if (runAs.uid !== undefined && runAs.gid !== undefined) for (const f of [dir, ini, join(dir, 'users.txt')]) chownSync(f, runAs.uid, runAs.gid);
  const child: ChildProcess = spawn(PGBOUNCER_BIN, [ini], { ...spawnIdentity(runAs), cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`PgBouncer on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}):\n${output}`);
      return (await accepts(port)) ? true : undefined;
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    port,
    mode,
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    output: () => output,
    stop,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
