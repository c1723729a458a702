import { sql } from 'kysely';
/*
 * radotp vs FreeRADIUS 3.2 benchmark. `npm run bench -- --help` for the options; bench/README.md explains the output.
 *
 * One run: build radotp (tsc into .bench/dist), start a throwaway PostgreSQL (server defaults: fsync and
 * synchronous_commit on), provision users through the store, start radotp as its own process and the FreeRADIUS
 * anchor, then for each round and scenario drive both servers with the shared loadgen (alternating which goes
 * first), then the PAP overload flood (with Status-Server probes), then one CPU-profiled radotp run. Medians are
 * printed and written to bench/results/latest.json. Everything started is stopped at the end, on errors and on
 * SIGINT/SIGTERM.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load';
import { openStore, type Store } from '../src/store/open';
import type { LoginStyle } from '../src/store/schema';
import { startAnchor, type Anchor, ANCHOR_PORT, ANCHOR_SECRET } from './lib/freeradius';
import { runLoadgen, type LoadResult, type LoadSpec } from './lib/loadgen';
import { startBenchPostgres, type BenchPostgres } from './lib/postgres';
import {
  buildRadotp,
  metricDelta,
  metricSum,
  REPO,
  scrapeMetrics,
  histogramQuantiles,
  startRadotp,
  tail,
  writeRadotpConfig,
  type RadotpProcess,
  type RunMode,
} from './lib/radotp';
import { cpuPerLogin, describeCpuPerLogin, type CpuPerLogin } from './lib/cpu-per-login';
import { runQueueSeconds, waitedBetween } from './lib/proc';
import { startStatusServerSeries, type ProbeSeries } from './lib/status-probe';
import { children, fmt, freeTcpPort, freeUdpPort, log, median, percentile, run, sleep } from './lib/util';
import { formatProfile, summariseProfile, type ProfileSummary } from './profile-summary';
import { SCENARIOS } from './scenarios';
import type { BenchContext, BenchOptions, Scenario } from './scenarios/types';

const RADOTP_SECRET = 'bench-radotp-secret-0123456789';
const CLIENT_NAME = 'bench';
const CLIENT_REFRESH_S = 1;

const HELP = `usage: npm run bench -- [options]
  --scenario LIST        comma-separated: ${SCENARIOS.map((s) => s.name).join(', ')} (default: all that can run)
  --rounds N             rounds; each runs every scenario on both servers, order alternating (default 3)
  --warm-rounds N        rounds run first and not counted, so the rounds measure warmed-up servers (default 1)
  --concurrency N        outstanding requests (default 64)
  --pap-count N          measured requests per radotp PAP run (default 600)
  --otp-count N          measured requests per radotp otp-only run (default 20000)
  --append-count N       measured requests per radotp append run (default 500)
  --fr-count N           measured requests per FreeRADIUS run (default 20000)
  --duration S           cap in seconds on each measured phase (default 20)
  --flood-concurrency N  PAP overload test: outstanding requests (default maxPending + 512 = 1536); 0 = skip
  --flood-duration S     PAP overload test length (default 10)
  --profile SCENARIO     scenario for the CPU-profiled radotp run, or none (default otp-only, else pap)
  --mode dist|source     run compiled dist (default; built into .bench/dist) or the TypeScript via swc
  --log-level LEVEL      radotp log.level (default warn)
  --max-pending N        radotp radius.maxPending (default: radotp's default, 1024)
  --db-pool N            radotp database.poolSize (default: radotp's default, 10)
  --pg-connection KIND   how radotp reaches PostgreSQL: tcp (loopback TCP, as a cluster's nodes reach a
                         shared server) or socket (a Unix socket, as the embedded default does) (default tcp)
  --out FILE             results JSON (default bench/results/latest.json)
  --keep                 keep the work directory (/var/tmp/radotp-bench-*) for inspection
`;

interface Cli extends BenchOptions {
  scenarios?: string[];
  floodConcurrency?: number;
  floodDuration: number;
  profile?: string;
  mode: RunMode;
  logLevel: string;
  maxPending?: number;
  dbPool?: number;
  pgConnection: 'socket' | 'tcp';
  out: string;
  keep: boolean;
}

function parseCli(argv: string[]): Cli {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string' },
      rounds: { type: 'string' },
      'warm-rounds': { type: 'string' },
      concurrency: { type: 'string' },
      'pap-count': { type: 'string' },
      'otp-count': { type: 'string' },
      'append-count': { type: 'string' },
      'fr-count': { type: 'string' },
      duration: { type: 'string' },
      'flood-concurrency': { type: 'string' },
      'flood-duration': { type: 'string' },
      profile: { type: 'string' },
      mode: { type: 'string' },
      'log-level': { type: 'string' },
      'max-pending': { type: 'string' },
      'db-pool': { type: 'string' },
      'pg-connection': { type: 'string' },
      out: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, fallback: number | undefined, min = 1): number | undefined => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const mode = (values.mode ?? 'dist') as RunMode;
  if (mode !== 'dist' && mode !== 'source') throw new Error('--mode must be dist or source');
  const pgConnection = values['pg-connection'] ?? 'tcp';
  if (pgConnection !== 'socket' && pgConnection !== 'tcp') throw new Error('--pg-connection must be socket or tcp');
  const scenarios = values.scenario?.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of scenarios ?? []) if (!SCENARIOS.some((x) => x.name === s)) throw new Error(`unknown scenario "${s}"`);
  return {
    scenarios,
    rounds: int('rounds', values.rounds, 3)!,
    warmRounds: int('warm-rounds', values['warm-rounds'], 1, 0)!,
    concurrency: int('concurrency', values.concurrency, 64)!,
    papCount: int('pap-count', values['pap-count'], 600)!,
    otpCount: int('otp-count', values['otp-count'], 20000)!,
    appendCount: int('append-count', values['append-count'], 500)!,
    frCount: int('fr-count', values['fr-count'], 20000)!,
    frWarmup: 1000,
    duration: int('duration', values.duration, 20)!,
    floodConcurrency: int('flood-concurrency', values['flood-concurrency'], undefined, 0),
    floodDuration: int('flood-duration', values['flood-duration'], 10)!,
    profile: values.profile,
    mode,
    logLevel: values['log-level'] ?? 'warn',
    maxPending: int('max-pending', values['max-pending'], undefined),
    dbPool: int('db-pool', values['db-pool'], undefined),
    pgConnection: pgConnection as 'socket' | 'tcp',
    out: values.out ?? join(REPO, 'bench', 'results', 'latest.json'),
    keep: !!values.keep,
  };
}

/** Async clean-up steps, run last-registered first, once. */
class Cleanup {
  private steps: { name: string; fn: () => Promise<void> }[] = [];
  private running?: Promise<void>;
  add(name: string, fn: () => Promise<void>): void {
    this.steps.push({ name, fn });
  }
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.fn();
        } catch (e) {
          log(`clean-up "${step.name}" failed: ${(e as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

type ServerName = 'radotp' | 'freeradius';

interface RunRecord {
  scenario: string;
  round: number;
  server: ServerName;
  /** 1 = this server ran first in its round for this scenario. */
  position: number;
  ok: boolean;
  problems: string[];
  result: LoadResult;
  /** CPU of the PostgreSQL cluster during the run, % of one core. */
  pg_cpu_pct: number;
  /**
   * radotp only: datagram received to reply sent, inside the server (its radotp_request_duration_seconds
   * histogram over the run, warmup included; as fine as the histogram's buckets). The rest of loadgen's
   * latency is the kernel, the socket queues and loadgen itself.
   */
  server_latency_ms?: { p50: number; p99: number };
  /** Machine load average (1 min) at the end of the run: other work on the machine shows here. */
  load_avg_1m: number;
  /**
   * Time the server's threads (and, for radotp, PostgreSQL's processes) were ready to run but waited for a
   * CPU, in % of the run's wall time (summed over threads, like CPU %); see lib/proc.ts.
   */
  cpu_wait_pct: { server: number; postgres?: number };
  /**
   * The CPU one accepted login cost the server, PostgreSQL (radotp only) and loadgen, in µs, and their sum: on
   * CPUs the three share, what bounds the throughput (see lib/cpu-per-login.ts). PostgreSQL's share is over the
   * whole loadgen run, warmup included; the others' over the measured part.
   */
  cpu_per_login_us?: CpuPerLogin;
  /**
   * radotp only: its garbage collections during the run (warmup included), from prom-client's
   * nodejs_gc_duration_seconds: how many young-generation (minor) and full (major) collections, their mean pause,
   * and all pauses together in % of the run's wall time. Every request in flight waits out a pause.
   */
  gc?: { minor: GcPauses; major: GcPauses; pct_of_wall: number };
  /** radotp's spend batches over the run, warmup included (radotp_spend_* on /metrics): codes each, mean round trip. */
  spend_batches?: { batches: number; codes_per_batch: number; mean_ms: number };
}

interface GcPauses {
  count: number;
  mean_ms: number;
}

interface ServerMedians {
  runs: number;
  throughput_rps: number;
  p50_ms: number;
  p99_ms: number;
  server_cpu_pct: number;
  client_cpu_pct: number;
  pg_cpu_pct: number;
  /** What one login cost the machine (server, PostgreSQL and loadgen together), µs: see RunRecord.cpu_per_login_us. */
  machine_us_per_login: number;
}

/**
 * radotp's spend batches between two scrapes (see SpendStats): how many codes each carried and how long each took
 * from sent to decided. Undefined when the run sent none (the PAP scenario).
 */
function spendBatchesOf(before: Map<string, number>, after: Map<string, number>): RunRecord['spend_batches'] {
  const batches = metricDelta(before, after, 'radotp_spend_batches_total');
  if (!(batches > 0)) return undefined;
  return {
    batches,
    codes_per_batch: metricDelta(before, after, 'radotp_spend_codes_total') / batches,
    mean_ms: (1000 * metricDelta(before, after, 'radotp_spend_batch_seconds_total')) / batches,
  };
}

/** The garbage collections between two scrapes of radotp's /metrics (see RunRecord.gc). */
function gcPauses(before: Map<string, number>, after: Map<string, number>, wallSeconds: number): RunRecord['gc'] {
  const seconds = (kind: string) => metricDelta(before, after, 'nodejs_gc_duration_seconds_sum', `kind="${kind}"`);
  const pauses = (kind: string): GcPauses => {
    const count = metricDelta(before, after, 'nodejs_gc_duration_seconds_count', `kind="${kind}"`);
    return { count, mean_ms: count ? Number(((1000 * seconds(kind)) / count).toFixed(2)) : 0 };
  };
  return {
    minor: pauses('minor'),
    major: pauses('major'),
    pct_of_wall: Number(((100 * (seconds('minor') + seconds('major'))) / wallSeconds).toFixed(2)),
  };
}

/** A radotp run is trustworthy when every measured request was accepted, none lost or invalid. */
function problemsOf(r: LoadResult): string[] {
  const p: string[] = [];
  if (r.accept !== r.issued) p.push(`${r.issued - r.accept} of ${r.issued} not accepted (reject ${r.reject}, challenge ${r.challenge}, timeouts ${r.timeouts})`);
  if (r.retransmits) p.push(`${r.retransmits} retransmits`);
  const invalid = Object.values(r.invalid ?? {}).reduce((a, b) => a + b, 0);
  if (invalid) p.push(`${invalid} invalid replies`);
  if (r.stopped_by !== 'count') p.push(`stopped by ${r.stopped_by} (the --duration cap) after ${r.issued} requests`);
  return p;
}

function mediansOf(records: RunRecord[]): ServerMedians {
  const rs = records.map((r) => r.result);
  return {
    runs: rs.length,
    throughput_rps: median(rs.map((r) => r.accept_rps)),
    p50_ms: median(rs.map((r) => r.latency_ms.p50)),
    p99_ms: median(rs.map((r) => r.latency_ms.p99)),
    server_cpu_pct: median(rs.map((r) => r.server_cpu_pct ?? NaN)),
    client_cpu_pct: median(rs.map((r) => r.client_cpu_pct ?? NaN)),
    pg_cpu_pct: median(records.map((r) => r.pg_cpu_pct)),
    machine_us_per_login: median(records.map((r) => r.cpu_per_login_us?.machine_us ?? NaN)),
  };
}

function seriesStats(s: ProbeSeries) {
  return {
    sent: s.sent,
    answered: s.answered,
    lost: s.lost,
    p50_ms: round3(percentile(s.rttsMs, 50)),
    p99_ms: round3(percentile(s.rttsMs, 99)),
    max_ms: round3(s.rttsMs.length ? Math.max(...s.rttsMs) : NaN),
  };
}

function round3(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : NaN;
}

interface WalCounters { records: number; fpi: number; bytes: number; syncs: number; syncMs: number }

/** PostgreSQL's cluster-wide WAL counters (pg_stat_wal, PostgreSQL 14+); undefined on older servers. */
async function walCounters(store: Store): Promise<WalCounters | undefined> {
  try {
    const { rows } = await sql<{ wal_records: string; wal_fpi: string; wal_bytes: string; wal_sync: string; wal_sync_time: string }>`SELECT wal_records, wal_fpi, wal_bytes, wal_sync, wal_sync_time FROM pg_stat_wal`.execute(store.db);
    const r = rows[0];
    return { records: Number(r.wal_records), fpi: Number(r.wal_fpi), bytes: Number(r.wal_bytes), syncs: Number(r.wal_sync), syncMs: Number(r.wal_sync_time) };
  } catch {
    return undefined;
  }
}

/** WAL written per login over a run (warm-up included, as is the audit trail's share). */
function walPerLogin(before: WalCounters | undefined, after: WalCounters | undefined, logins: number) {
  if (!before || !after || logins <= 0) return undefined;
  return {
    bytes: Math.round((after.bytes - before.bytes) / logins),
    fpi: Number(((after.fpi - before.fpi) / logins).toFixed(2)),
    syncs: Math.round((1000 * (after.syncs - before.syncs)) / logins),
    // only with track_wal_io_timing on (off by default: it reads the clock around every WAL write and sync)
    syncMs: after.syncMs > before.syncMs ? Number(((after.syncMs - before.syncMs) / (after.syncs - before.syncs)).toFixed(3)) : undefined,
  };
}

async function measureStatusIdle(port: number, seconds: number): Promise<ProbeSeries> {
  const series = startStatusServerSeries({ port, secret: RADOTP_SECRET, intervalMs: 50 });
  await sleep(seconds * 1000);
  return series.stop();
}

async function waitForDrain(httpPort: number, maxSeconds: number): Promise<number> {
  const t0 = Date.now();
  let last = -1;
  let stableSince = Date.now();
  while (Date.now() - t0 < maxSeconds * 1000) {
    const m = await scrapeMetrics(httpPort);
    const answered = metricSum(m, 'radotp_requests_total');
    if (answered !== last) {
      last = answered;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 1500) break;
    await sleep(250);
  }
  return (Date.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  const cleanup = new Cleanup();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping everything`);
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    void cleanup.run().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const startedAt = new Date();
  const workDir = mkdtempSync(join('/var/tmp', 'radotp-bench-'));
  chmodSync(workDir, 0o755); // PostgreSQL runs as the postgres user and must reach its data directory below
  cleanup.add('work directory', async () => {
    if (cli.keep) log(`work directory kept: ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  });
  log(`work directory ${workDir}; ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  try {
    // --- which scenarios
    const wanted = cli.scenarios ?? SCENARIOS.map((s) => s.name);
    const skipped: Record<string, string> = {};
    const scenarios: Scenario[] = [];
    for (const s of SCENARIOS.filter((x) => wanted.includes(x.name))) {
      const why = s.unavailable();
      if (why) {
        skipped[s.name] = why;
        log(`skipping ${s.name}: ${why}`);
      } else scenarios.push(s);
    }
    if (scenarios.length === 0) throw new Error('no scenario can run');
    const profileName = cli.profile ?? (scenarios.some((s) => s.name === 'otp-only') ? 'otp-only' : scenarios[0].name);
    const profileScenario = profileName === 'none' ? undefined : scenarios.find((s) => s.name === profileName);
    if (profileName !== 'none' && !profileScenario) throw new Error(`--profile ${profileName}: not among the scenarios that run`);

    // --- build
    let buildNote: string | undefined;
    if (cli.mode === 'dist') {
      log('building radotp (tsc -p tsconfig.build.json --outDir .bench/dist)');
      const b = await buildRadotp();
      buildNote = b.note;
      log(`built in ${b.seconds.toFixed(1)} s${b.note ? `; ${b.note}` : ''}`);
    }

    // --- PostgreSQL
    log('starting PostgreSQL');
    const pg: BenchPostgres = await startBenchPostgres(join(workDir, 'pg'), process.env.RADOTP_BENCH_PG_SETTINGS ? JSON.parse(process.env.RADOTP_BENCH_PG_SETTINGS) : {});
    cleanup.add('PostgreSQL', () => pg.stop());
    log(`PostgreSQL ${pg.version} on port ${pg.port} (${Object.entries(pg.settings).map(([k, v]) => `${k}=${v}`).join(', ')})`);

    // --- radotp config, schema, client, users (through the store, from this process)
    const radiusPort = await freeUdpPort();
    const httpPort = await freeTcpPort();
    const configFile = writeRadotpConfig({
      dir: workDir,
      databaseUrl: cli.pgConnection === 'socket' ? pg.socketUrl : pg.url,
      radiusPort,
      httpPort,
      logLevel: cli.logLevel,
      maxPending: cli.maxPending,
      poolSize: cli.dbPool,
      clientRefreshSeconds: CLIENT_REFRESH_S,
    });
    const env = { ...process.env };
    delete env.RADOTP_DATABASE_URL;
    const cfg = parseConfig(readFileSync(configFile, 'utf8'), configFile, env);
    const store: Store = await openStore(cfg, { createKey: true, migrate: true, poolSize: 8, applicationName: 'radotp-bench' });
    cleanup.add('harness store', () => store.close());
    await store.clients.add({
      name: CLIENT_NAME,
      address: '127.0.0.1',
      secret: Buffer.from(RADOTP_SECRET),
      requireMessageAuthenticator: true,
      loginStyle: 'challenge',
    });
    let loginStyle: LoginStyle = 'challenge';

    // --- FreeRADIUS (installs on first use)
    const anchorDir = process.env.ANCHOR_DIR ?? '/var/tmp/radotp-bench-anchor';
    log(`starting FreeRADIUS anchor (ANCHOR_DIR=${anchorDir})`);
    const anchor: Anchor = await startAnchor(anchorDir);
    cleanup.add('FreeRADIUS', () => anchor.stop());
    log(`FreeRADIUS ${anchor.version} PID ${anchor.pid} on 127.0.0.1:${ANCHOR_PORT}`);

    const ctx: BenchContext = { store, workDir, opts: cli, anchor, radotpRuns: cli.rounds + 1 + cli.warmRounds };
    for (const s of scenarios) {
      log(`provisioning ${s.name}`);
      await s.provision(ctx);
    }
    // What autovacuum would long since have done to the tables of a server in service: hint bits set and
    // statistics current. Without it every measured login pays for being the first to touch a row just
    // bulk-inserted, which no login in production does.
    const vacuumStarted = Date.now();
    await sql`VACUUM ANALYZE app_user, token`.execute(store.db);
    log(`VACUUM ANALYZE app_user, token: ${((Date.now() - vacuumStarted) / 1000).toFixed(1)} s`);

    // --- radotp server process
    let radotp: RadotpProcess = await startRadotp({
      mode: cli.mode,
      configFile,
      port: radiusPort,
      httpPort,
      secret: RADOTP_SECRET,
      logFile: join(workDir, 'radotp.log'),
    });
    cleanup.add('radotp', () => radotp.stop());
    log(`radotp (${cli.mode}) PID ${radotp.pid} on 127.0.0.1:${radiusPort}, /metrics on ${httpPort}, log.level ${cli.logLevel}`);

    const setLoginStyle = async (style: LoginStyle) => {
      if (style === loginStyle) return;
      await store.clients.update(CLIENT_NAME, { loginStyle: style });
      loginStyle = style;
      await sleep(CLIENT_REFRESH_S * 1000 * 2 + 300); // the server reloads its client table every CLIENT_REFRESH_S
    };

    const statusIdle = seriesStats(await measureStatusIdle(radiusPort, 3));
    log(`Status-Server RTT idle: p50 ${fmt(statusIdle.p50_ms, 3)} ms, p99 ${fmt(statusIdle.p99_ms, 3)} ms`);

    // --- rounds
    const records: RunRecord[] = [];
    /** `round` -1 - k is warm-up round k: its users are those of run rounds + 1 + k, and nothing is recorded. */
    const drive = async (s: Scenario, server: ServerName, round: number, position: number) => {
      const warmUp = round < 0;
      let spec: LoadSpec;
      let target: { port: number; secret: string; pid?: number };
      if (server === 'radotp') {
        await setLoginStyle(s.loginStyle);
        spec = s.radotpLoad(ctx, warmUp ? cli.rounds + 1 + (-1 - round) : round);
        target = { port: radiusPort, secret: RADOTP_SECRET, pid: radotp.pid };
      } else {
        spec = s.freeradiusLoad(ctx);
        target = { port: ANCHOR_PORT, secret: ANCHOR_SECRET, pid: anchor.pid };
      }
      const pgCpu0 = pg.cpuSeconds();
      const serverWait0 = runQueueSeconds(target.pid!);
      const pgWait0 = pg.runQueueSnapshot();
      const wal0 = server === 'radotp' ? await walCounters(store) : undefined;
      const metricsBefore = server === 'radotp' ? await scrapeMetrics(httpPort) : undefined;
      const t0 = Date.now();
      const label = warmUp ? `warm-up ${-round}` : `round ${round + 1}`;
      const { result } = await runLoadgen(target, spec, `${s.name}/${server}/${warmUp ? `w${-round}` : `r${round + 1}`}`);
      const metricsAfter = metricsBefore && (await scrapeMetrics(httpPort));
      const inServer = metricsAfter && histogramQuantiles(metricsBefore, metricsAfter, 'radotp_request_duration_seconds', [0.5, 0.99]);
      // logins whose user was not in the login cache (each costs a database read): should be none once warm
      const cacheMisses = metricsAfter && metricDelta(metricsBefore, metricsAfter, 'radotp_login_cache_lookups_total', 'miss');
      const serverLatency = inServer && { p50: Number(inServer[0].toFixed(2)), p99: Number(inServer[1].toFixed(2)) };
      // the spend batches of the run (warmup included): codes per batch and each batch's round trip to PostgreSQL
      const spendBatches = metricsAfter && spendBatchesOf(metricsBefore, metricsAfter);
      // How late radotp's event loop ran its timers during this run (prom-client resets the histogram at every
      // scrape, so the scrape before the run started it afresh): a stall here delays every request in flight.
      const loopLag = metricsAfter && {
        p99: Number((1000 * (metricsAfter.get('nodejs_eventloop_lag_p99_seconds') ?? NaN)).toFixed(2)),
        max: Number((1000 * (metricsAfter.get('nodejs_eventloop_lag_max_seconds') ?? NaN)).toFixed(2)),
      };
      // PostgreSQL's share of the CPU over the whole loadgen run (warmup included), in % of one core
      const pgCpuPct = (100 * (pg.cpuSeconds() - pgCpu0)) / ((Date.now() - t0) / 1000);
      const wallSeconds = (Date.now() - t0) / 1000;
      const cpuWait = {
        server: Math.round((100 * (runQueueSeconds(target.pid!) - serverWait0)) / wallSeconds),
        ...(server === 'radotp' ? { postgres: Math.round((100 * waitedBetween(pgWait0, pg.runQueueSnapshot())) / wallSeconds) } : {}),
      };
      const gc = metricsAfter && gcPauses(metricsBefore, metricsAfter, wallSeconds);
      const wal = wal0 && walPerLogin(wal0, await walCounters(store), result.accept + spec.warmup);
      const cpu = cpuPerLogin(result.accept_rps, { server: result.server_cpu_pct ?? NaN, loadgen: result.client_cpu_pct ?? NaN, ...(server === 'radotp' ? { postgres: pgCpuPct } : {}) });
      const problems = problemsOf(result);
      if (!warmUp) records.push({ scenario: s.name, round, server, position, ok: problems.length === 0, problems, result, pg_cpu_pct: Math.round(pgCpuPct), load_avg_1m: os.loadavg()[0], cpu_wait_pct: cpuWait, ...(cpu ? { cpu_per_login_us: cpu } : {}), ...(serverLatency ? { server_latency_ms: serverLatency } : {}), ...(loopLag ? { event_loop_lag_ms: loopLag } : {}), ...(gc ? { gc } : {}), ...(spendBatches ? { spend_batches: spendBatches } : {}) });
      log(
        `  ${s.name.padEnd(8)} ${server.padEnd(10)} ${label}: ${fmt(result.accept_rps, 0).padStart(7)} accept/s  ` +
          `p50 ${fmt(result.latency_ms.p50, 2)} ms  p99 ${fmt(result.latency_ms.p99, 2)} ms  server CPU ${fmt(result.server_cpu_pct, 0)}%` +
          (server === 'radotp' ? `  PostgreSQL CPU ${pgCpuPct.toFixed(0)}%` : '') +
          `  waited for a CPU: server ${cpuWait.server}%` +
          (cpuWait.postgres !== undefined ? ` PostgreSQL ${cpuWait.postgres}%` : '') +
          (cpu ? `  CPU a login: ${describeCpuPerLogin(cpu)}` : '') +
          (serverLatency ? `  in-server p50 ${fmt(serverLatency.p50, 2)} ms p99 ${fmt(serverLatency.p99, 2)} ms` : '') +
          (loopLag ? `  loop lag p99 ${fmt(loopLag.p99, 2)} ms max ${fmt(loopLag.max, 2)} ms` : '') +
          (gc ? `  GC ${gc.minor.count} minor of ${fmt(gc.minor.mean_ms, 1)} ms, ${gc.major.count} major of ${fmt(gc.major.mean_ms, 1)} ms (${fmt(gc.pct_of_wall, 1)}% of wall)` : '') +
          (cacheMisses ? `  login-cache misses ${cacheMisses}` : '') +
          (spendBatches ? `  spends: ${fmt(spendBatches.codes_per_batch, 1)} a batch, ${fmt(spendBatches.mean_ms, 2)} ms each` : '') +
          (wal ? `  WAL/accept ${wal.bytes} B (${wal.fpi} full pages), ${wal.syncs} fsyncs/1000${wal.syncMs ? ` of ${wal.syncMs} ms` : ''}` : '') +
          `  loadavg ${os.loadavg()[0].toFixed(1)}` +
          (problems.length ? `  !! ${problems.join('; ')}` : ''),
      );
    };
    // A server runs for weeks: measure it warmed up. Within one loadgen run the warmup requests let V8
    // optimise the login path, but radotp kept getting faster over the next 100k requests (its heap and
    // duplicate cache growing to their working size); round 1 measured that, ~10% below rounds 2-4.
    for (let k = 1; k <= cli.warmRounds; k++) {
      log(`warm-up round ${k}/${cli.warmRounds} (not counted)`);
      for (const s of scenarios) for (const [i, server] of (['radotp', 'freeradius'] as ServerName[]).entries()) await drive(s, server, -k, i + 1);
    }
    for (let round = 0; round < cli.rounds; round++) {
      log(`round ${round + 1}/${cli.rounds}`);
      for (const s of scenarios) {
        // Alternate which server goes first, so a drift in machine load does not favour one of them.
        const order: ServerName[] = round % 2 === 0 ? ['radotp', 'freeradius'] : ['freeradius', 'radotp'];
        for (const [i, server] of order.entries()) await drive(s, server, round, i + 1);
      }
    }

    // --- PAP overload flood: shedding and Status-Server during it
    let flood: Record<string, unknown> | undefined;
    const pap = scenarios.find((s) => s.name === 'pap');
    const floodConcurrency = cli.floodConcurrency ?? (cli.maxPending ?? 1024) + 512;
    if (pap && floodConcurrency > 0) {
      log(`PAP flood: concurrency ${floodConcurrency} for ${cli.floodDuration} s, Status-Server every 50 ms`);
      const before = await scrapeMetrics(httpPort);
      const probes = startStatusServerSeries({ port: radiusPort, secret: RADOTP_SECRET, intervalMs: 50, timeoutMs: 2000 });
      const spec: LoadSpec = {
        ...pap.radotpLoad(ctx, 0),
        concurrency: floodConcurrency,
        count: 10_000_000,
        warmup: 0,
        duration: cli.floodDuration,
        timeoutMs: 3000,
        retries: 0, // a NAS that gives up on this server (and would fail over); keeps the offered load steady
        expect: 'any',
      };
      const { result } = await runLoadgen({ port: radiusPort, secret: RADOTP_SECRET, pid: radotp.pid }, spec, 'pap-flood/radotp');
      const status = seriesStats(await probes.stop());
      const after = await scrapeMetrics(httpPort);
      const dropsBy: Record<string, number> = {};
      for (const [k, v] of after) {
        const m = /^radotp_dropped_total\{reason="([^"]+)"\}$/.exec(k);
        if (m) {
          const d = v - (before.get(k) ?? 0);
          if (d) dropsBy[m[1]] = d;
        }
      }
      const drainSeconds = await waitForDrain(httpPort, 120);
      const answeredDuringFlood = metricDelta(before, after, 'radotp_requests_total');
      flood = {
        concurrency: floodConcurrency,
        max_pending: cli.maxPending ?? 1024,
        duration_s: result.elapsed_s,
        loadgen: {
          issued: result.issued,
          accepted: result.accept,
          timeouts: result.timeouts,
          accept_rps: result.accept_rps,
          p50_ms: result.latency_ms.p50,
          p99_ms: result.latency_ms.p99,
          server_cpu_pct: result.server_cpu_pct,
        },
        server_answered_during_flood: answeredDuringFlood,
        dropped_overload: dropsBy.overload ?? 0,
        dropped_by_reason: dropsBy,
        drain_after_flood_s: Math.round(drainSeconds * 10) / 10,
        status_server_during_flood: status,
        status_server_idle: statusIdle,
      };
      log(
        `  flood: ${result.accept} accepted (${fmt(result.accept_rps, 0)}/s), ${result.timeouts} timed out at the NAS, ` +
          `${dropsBy.overload ?? 0} dropped as overload; Status-Server p50 ${fmt(status.p50_ms, 2)} ms p99 ${fmt(status.p99_ms, 2)} ms ` +
          `max ${fmt(status.max_ms, 2)} ms, ${status.lost}/${status.sent} lost; drained in ${drainSeconds.toFixed(1)} s`,
      );
    }

    // --- CPU profile of one radotp run
    let profile: (ProfileSummary & { scenario: string; run: LoadResult['latency_ms'] & { accept_rps: number }; kept?: string }) | undefined;
    if (profileScenario) {
      log(`CPU profile: restarting radotp with --cpu-prof for one ${profileScenario.name} run`);
      await radotp.stop();
      await store.clients.update(CLIENT_NAME, { loginStyle: profileScenario.loginStyle });
      loginStyle = profileScenario.loginStyle;
      const profDir = join(workDir, 'cpuprof');
      mkdirSync(profDir, { recursive: true });
      radotp = await startRadotp({
        mode: cli.mode,
        configFile,
        port: radiusPort,
        httpPort,
        secret: RADOTP_SECRET,
        logFile: join(workDir, 'radotp-profiled.log'),
        cpuProfDir: profDir,
      });
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const { result } = await runLoadgen(
        { port: radiusPort, secret: RADOTP_SECRET, pid: radotp.pid },
        profileScenario.radotpLoad(ctx, cli.rounds),
        `${profileScenario.name}/radotp/profiled`,
      );
      const toUs = Number(process.hrtime.bigint() / 1000n);
      await radotp.stop(); // the profile is written as the process exits
      const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
      if (file) {
        const keptDir = join(REPO, '.bench', 'profiles');
        mkdirSync(keptDir, { recursive: true });
        const kept = join(keptDir, `radotp-${profileScenario.name}-${startedAt.toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
        copyFileSync(join(profDir, file), kept);
        const summary = summariseProfile(kept, 25, { fromUs, toUs });
        profile = { ...summary, file: relative(REPO, kept), scenario: profileScenario.name, run: { ...result.latency_ms, accept_rps: result.accept_rps } };
        log(`profiled run: ${fmt(result.accept_rps, 0)} accept/s (with profiler overhead); profile kept at ${relative(REPO, kept)}`);
      } else log('no .cpuprofile was written');
    }

    // --- results
    const byScenario: Record<string, unknown> = {};
    const table: string[] = [];
    table.push(
      `${'scenario'.padEnd(9)} ${'server'.padEnd(10)} ${'accept/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'srv CPU%'.padStart(8)} ${'gen CPU%'.padStart(8)} ${'PG CPU%'.padStart(8)}  runs`,
    );
    for (const s of scenarios) {
      const mine = records.filter((r) => r.scenario === s.name);
      const rad = mediansOf(mine.filter((r) => r.server === 'radotp'));
      const fr = mediansOf(mine.filter((r) => r.server === 'freeradius'));
      const perRound: number[] = [];
      for (let round = 0; round < cli.rounds; round++) {
        const a = mine.find((r) => r.round === round && r.server === 'radotp');
        const b = mine.find((r) => r.round === round && r.server === 'freeradius');
        if (a && b && b.result.accept_rps > 0) perRound.push(a.result.accept_rps / b.result.accept_rps);
      }
      const ratio = {
        throughput: rad.throughput_rps / fr.throughput_rps,
        p50: rad.p50_ms / fr.p50_ms,
        p99: rad.p99_ms / fr.p99_ms,
        throughput_median_of_rounds: median(perRound),
        // FreeRADIUS's machine CPU per login over radotp's: the throughput ratio radotp would reach keeping the
        // CPUs as busy as FreeRADIUS does (what the machine allows, whatever the scheduling)
        at_equal_cpu_use: fr.machine_us_per_login / rad.machine_us_per_login,
      };
      const problems = mine.filter((r) => !r.ok).map((r) => `${r.server} round ${r.round + 1}: ${r.problems.join('; ')}`);
      byScenario[s.name] = { title: s.title, login_style: s.loginStyle, radotp: rad, freeradius: fr, ratio_radotp_over_freeradius: ratio, problems, runs: mine };
      for (const [name, m] of [['radotp', rad], ['freeradius', fr]] as const) {
        table.push(
          `${s.name.padEnd(9)} ${name.padEnd(10)} ${fmt(m.throughput_rps, 0).padStart(9)} ${fmt(m.p50_ms, 2).padStart(8)} ${fmt(m.p99_ms, 2).padStart(8)} ` +
            `${fmt(m.server_cpu_pct, 0).padStart(8)} ${fmt(m.client_cpu_pct, 0).padStart(8)} ${fmt(name === 'radotp' ? m.pg_cpu_pct : NaN, 0).padStart(8)}  ${m.runs}`,
        );
      }
      table.push(
        `${''.padEnd(9)} ${'ratio'.padEnd(10)} ${('x' + fmt(ratio.throughput, 4)).padStart(9)} ${('x' + fmt(ratio.p50, 1)).padStart(8)} ${('x' + fmt(ratio.p99, 1)).padStart(8)}` +
          `   (radotp/FreeRADIUS; throughput ratio per round, median: x${fmt(ratio.throughput_median_of_rounds, 4)})`,
      );
      if (Number.isFinite(ratio.at_equal_cpu_use)) {
        table.push(
          `${''.padEnd(9)} CPU a login, whole machine (server, PostgreSQL, loadgen): radotp ${fmt(rad.machine_us_per_login, 0)} µs, ` +
            `FreeRADIUS ${fmt(fr.machine_us_per_login, 0)} µs: x${fmt(ratio.at_equal_cpu_use, ratio.at_equal_cpu_use < 0.1 ? 4 : 2)} at equal CPU use`,
        );
      }
      for (const p of problems) table.push(`${''.padEnd(9)} !! ${p}`);
    }

    const gitCommit = (await run('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD'])).stdout.trim();
    const results = {
      meta: {
        started: startedAt.toISOString(),
        finished: new Date().toISOString(),
        git_commit: gitCommit,
        node: process.version,
        cpus: os.cpus().length,
        cpu_model: os.cpus()[0]?.model,
        load_average_at_end: os.loadavg(),
        rounds: cli.rounds,
        warm_rounds: cli.warmRounds,
        concurrency: cli.concurrency,
        message_authenticator: true,
        radotp: {
          mode: cli.mode,
          build_note: buildNote,
          log_level: cli.logLevel,
          max_pending: cli.maxPending ?? 1024,
          db_pool_size: cfg.database.poolSize,
          pg_connection: cli.pgConnection,
          separate_process: true,
        },
        postgres: { version: pg.version, settings: pg.settings, note: 'server defaults: durable commits (fsync and synchronous_commit on)' },
        freeradius: { version: anchor.version, anchor_dir: anchor.dir },
        counts: { pap: cli.papCount, otp_only: cli.otpCount, append: cli.appendCount, freeradius: cli.frCount, freeradius_warmup: cli.frWarmup, duration_cap_s: cli.duration },
        skipped,
      },
      scenarios: byScenario,
      status_server_idle: statusIdle,
      pap_flood: flood,
      cpu_profile: profile,
    };
    mkdirSync(join(cli.out, '..'), { recursive: true });
    writeFileSync(cli.out, JSON.stringify(results, null, 2) + '\n');

    const out: string[] = [];
    out.push('');
    out.push(
      `radotp vs FreeRADIUS ${anchor.version} - medians of ${cli.rounds} round(s) after ${cli.warmRounds} warm-up round(s), concurrency ${cli.concurrency}, Message-Authenticator on, ` +
        `${os.cpus().length} CPUs shared by loadgen, servers and PostgreSQL`,
    );
    out.push(
      `radotp: ${cli.mode === 'dist' ? 'compiled JS' : 'TypeScript via swc'}, separate process, log.level ${cli.logLevel}, maxPending ${cli.maxPending ?? 1024}, ` +
        `database.poolSize ${cfg.database.poolSize}; ` +
        `PostgreSQL ${pg.version} over ${cli.pgConnection === 'socket' ? 'a Unix socket' : 'loopback TCP'} fsync=${pg.settings.fsync} synchronous_commit=${pg.settings.synchronous_commit}`,
    );
    if (buildNote) out.push(`build: ${buildNote}`);
    for (const [name, why] of Object.entries(skipped)) out.push(`skipped ${name}: ${why}`);
    out.push('');
    out.push(...table);
    if (flood) {
      const f = flood as { server_answered_during_flood: number; concurrency: number; max_pending: number; loadgen: { accepted: number; timeouts: number; accept_rps: number; issued: number }; dropped_overload: number; dropped_by_reason: Record<string, number>; status_server_during_flood: ReturnType<typeof seriesStats>; drain_after_flood_s: number; duration_s: number };
      const st = f.status_server_during_flood;
      out.push('');
      out.push(`PAP overload (radotp): ${f.concurrency} outstanding (maxPending ${f.max_pending}) for ${fmt(f.duration_s, 1)} s, NAS timeout 3 s, no retries`);
      out.push(
        `  ${f.loadgen.accepted} accepted (${fmt(f.loadgen.accept_rps, 0)}/s), ${f.loadgen.timeouts} of ${f.loadgen.issued} timed out at the NAS; ` +
          `radotp_dropped_total{reason="overload"} +${f.dropped_overload}` +
          (Object.keys(f.dropped_by_reason).length > 1 ? ` (all reasons: ${JSON.stringify(f.dropped_by_reason)})` : ''),
      );
      out.push(
        `  radotp answered ${f.server_answered_during_flood} requests during the flood, ${f.loadgen.accepted} of them before the NAS gave up` +
          (f.server_answered_during_flood > 1.5 * f.loadgen.accepted
            ? ` (most answers came too late: maxPending ${f.max_pending} queued requests take longer than the 3 s NAS timeout to hash)`
            : ''),
      );
      out.push(
        `  Status-Server RTT during the flood: p50 ${fmt(st.p50_ms, 2)} ms, p99 ${fmt(st.p99_ms, 2)} ms, max ${fmt(st.max_ms, 2)} ms, ` +
          `${st.lost}/${st.sent} unanswered (idle: p50 ${fmt(statusIdle.p50_ms, 2)} ms, p99 ${fmt(statusIdle.p99_ms, 2)} ms); backlog drained ${fmt(f.drain_after_flood_s, 1)} s after the flood`,
      );
    }
    if (profile) {
      out.push('');
      out.push(`CPU profile of radotp, one ${profile.scenario} run (${fmt(profile.run.accept_rps, 0)} accept/s under the profiler), ${profile.file}:`);
      out.push(formatProfile(profile, 15).replace(/^/gm, '  '));
    }
    out.push('');
    out.push(`results: ${relative(process.cwd(), cli.out) || cli.out}`);
    process.stdout.write(out.join('\n') + '\n');
  } catch (e) {
    log(`failed: ${(e as Error).stack ?? e}`);
    const radLog = tail(join(workDir, 'radotp.log'));
    if (radLog) log(`radotp.log (last lines):\n${radLog}`);
    process.exitCode = 1;
  } finally {
    if (!interrupted) await cleanup.run();
  }
}

void main();
