import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { initCluster, startCluster, stopPostmaster } from '../../src/store/embedded/cluster';
import { embeddedPgBinaries, systemPgBinaries, type PgBinaries } from '../../src/store/embedded/pg-binaries';
import { postgresRunAs } from '../../src/store/embedded/postgres-user';
import { childPids, processStats, runQueueSnapshot, type RunQueueSnapshot } from './proc';

export interface BenchPostgres {
  /** Over loopback TCP. */
  readonly url: string;
  /** Over the Unix socket in <dir>/sock, as radotp's embedded PostgreSQL is reached by default. */
  readonly socketUrl: string;
  readonly pid: number;
  readonly port: number;
  readonly version: string;
  readonly settings: Record<string, string>;
  /** CPU seconds used so far by the postmaster and its processes (backends, walwriter, ...), from /proc. */
  cpuSeconds(): number;
  /** How long the postmaster and each of its processes have waited for a CPU so far (see proc.ts, waitedBetween). */
  runQueueSnapshot(): RunQueueSnapshot;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL cluster in `dir` (on disk, not tmpfs), with the server defaults for durability:
 * fsync on, synchronous_commit on, full_page_writes on. Loopback TCP and a Unix socket in <dir>/sock, trust auth
 * (throwaway data).
 */
export async function startBenchPostgres(dir: string, extraSettings: Record<string, string | number> = {}): Promise<BenchPostgres> {
  const bin: PgBinaries = systemPgBinaries() ?? embeddedPgBinaries();
  const runAs = postgresRunAs();
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const pgdata = join(dir, 'pgdata');
  const socketDir = join(dir, 'sock');
  mkdirSync(pgdata, { mode: 0o700 });
  mkdirSync(socketDir, { mode: 0o700 });
  if (runAs.uid !== undefined && runAs.gid !== undefined) {
    chownSync(pgdata, runAs.uid, runAs.gid);
    chownSync(socketDir, runAs.uid, runAs.gid);
  }
  await initCluster({
    bin,
    runAs,
    pgdata,
    auth: { method: 'trust' },
    settings: { listen_addresses: '127.0.0.1', unix_socket_directories: socketDir, max_connections: 100, ...extraSettings },
  });
  const info = await startCluster({ bin, runAs, pgdata, logFile: join(dir, 'postgres.log') });
  const url = `postgres://postgres@127.0.0.1:${info.port}/postgres`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let version = '?';
  const settings: Record<string, string> = {};
  try {
    version = (await client.query('SHOW server_version')).rows[0].server_version;
    for (const name of ['fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'wal_level']) {
      settings[name] = (await client.query(`SHOW ${name}`)).rows[0][name];
    }
    await client.query('CREATE DATABASE radotp_bench');
  } finally {
    await client.end();
  }
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${info.port}/radotp_bench`,
    socketUrl: `postgres://postgres@${encodeURIComponent(socketDir)}:${info.port}/radotp_bench`,
    pid: info.pid,
    port: info.port,
    version: `${version} (${bin.origin})`,
    settings,
    cpuSeconds: () => clusterCpuSeconds(info.pid),
    runQueueSnapshot: () => runQueueSnapshot([info.pid, ...childPids(info.pid)]),
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopPostmaster(info.pid, 20_000);
    },
  };
}

const CLK_TCK = 100; // Linux USER_HZ

/** utime+stime of the postmaster's children, plus the postmaster's own and its reaped children's (cutime/cstime). */
export function clusterCpuSeconds(postmasterPid: number): number {
  let ticks = 0;
  for (const { pid, fields: f } of processStats()) {
    if (pid === postmasterPid) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    else if (Number(f[1]) === postmasterPid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLK_TCK;
}
