import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { children, log, run, sleep } from './util';
import { statusServerProbe } from './status-probe';

export const REPO = join(__dirname, '..', '..');
/** Compiled output of our own (gitignored .bench/), so a concurrent `npm run build` elsewhere is not disturbed. */
export const DIST = join(REPO, '.bench', 'dist');

export type RunMode = 'dist' | 'source';

/** `tsc -p tsconfig.build.json` into .bench/dist. Emits even with type errors (other files may be mid-edit). */
export async function buildRadotp(): Promise<{ ok: boolean; note?: string; seconds: number }> {
  const t0 = Date.now();
  rmSync(DIST, { recursive: true, force: true });
  // src/radius/dictionary.ts looks for dictionaries/ three levels above the compiled file (dist/src/radius);
  // .bench/dist is one level deeper than dist/, so give it a .bench/dictionaries pointing at the real folder.
  const dictLink = join(REPO, '.bench', 'dictionaries');
  if (!existsSync(dictLink)) {
    mkdirSync(join(REPO, '.bench'), { recursive: true });
    symlinkSync(join('..', 'dictionaries'), dictLink);
  }
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = await run(process.execPath, [tsc, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', DIST], { cwd: REPO });
  const seconds = (Date.now() - t0) / 1000;
  if (!existsSync(join(DIST, 'cli', 'main.js'))) {
    throw new Error(`build failed (tsc exit ${r.code}):\n${(r.stdout + r.stderr).split('\n').slice(0, 20).join('\n')}`);
  }
  if (r.code !== 0) {
    const errors = (r.stdout + r.stderr).split('\n').filter((l) => /error TS/.test(l));
    return { ok: false, note: `tsc reported ${errors.length} type error(s) (JS emitted anyway): ${errors.slice(0, 3).join(' | ')}`, seconds };
  }
  return { ok: true, seconds };
}

export interface RadotpConfigOptions {
  dir: string;
  databaseUrl: string;
  radiusPort: number;
  httpPort: number;
  logLevel: string;
  maxPending?: number;
  poolSize?: number;
  clientRefreshSeconds: number;
}

export function writeRadotpConfig(o: RadotpConfigOptions): string {
  const file = join(o.dir, 'radotp.yaml');
  const lines = [
    '# written by bench/run.ts',
    'radius:',
    `  listen: ["127.0.0.1:${o.radiusPort}"]`,
    `  clientRefresh: ${o.clientRefreshSeconds}s`,
    ...(o.maxPending ? [`  maxPending: ${o.maxPending}`] : []),
    'database:',
    `  url: ${o.databaseUrl}`,
    ...(o.poolSize ? [`  poolSize: ${o.poolSize}`] : []),
    `dataDir: ${join(o.dir, 'data')}`,
    `keyFile: ${join(o.dir, 'master.key')}`,
    'http:',
    `  listen: 127.0.0.1:${o.httpPort}`,
    'log:',
    `  level: ${o.logLevel}`,
    'node:',
    '  name: bench',
    '',
  ];
  writeFileSync(file, lines.join('\n'));
  return file;
}

export interface RadotpProcess {
  readonly pid: number;
  readonly port: number;
  readonly httpPort: number;
  readonly logFile: string;
  /** SIGTERM (graceful: the CPU profile is written at exit), SIGKILL after 20 s. */
  stop(): Promise<void>;
  exited(): boolean;
}

export async function startRadotp(o: {
  mode: RunMode;
  configFile: string;
  port: number;
  httpPort: number;
  secret: string;
  logFile: string;
  cpuProfDir?: string;
}): Promise<RadotpProcess> {
  const nodeArgs: string[] = [];
  if (o.cpuProfDir) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`);
  // e.g. RADOTP_BENCH_NODE_ARGS=--perf-basic-prof to read radotp's JIT frames in `perf report`
  if (process.env.RADOTP_BENCH_NODE_ARGS) nodeArgs.push(...process.env.RADOTP_BENCH_NODE_ARGS.split(/\s+/).filter(Boolean));
  const args =
    o.mode === 'dist'
      ? [...nodeArgs, join(DIST, 'cli', 'main.js'), 'serve', '--config', o.configFile]
      : [...nodeArgs, '-r', join(REPO, 'scripts', 'ts-register.js'), join(REPO, 'cli', 'main.ts'), 'serve', '--config', o.configFile];
  const fd = openSync(o.logFile, 'a');
  let child: ChildProcess;
  try {
    // cli/main.ts only runs main() when it is the entry module, which is the case for both commands above.
    child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', fd, fd], env: { ...process.env, RADOTP_CONFIG: undefined, RADOTP_DATABASE_URL: undefined } });
  } finally {
    closeSync(fd);
  }
  children.add(child);
  let exitedFlag = false;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exitedFlag = true;
      children.delete(child);
      resolve();
    }),
  );
  const proc: RadotpProcess = {
    pid: child.pid!,
    port: o.port,
    httpPort: o.httpPort,
    logFile: o.logFile,
    exited: () => exitedFlag,
    async stop() {
      if (exitedFlag) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exitPromise;
      clearTimeout(timer);
    },
  };
  // Ready = answers Status-Server, /healthz says the database is reachable, and the login cache is warm.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitedFlag) throw new Error(`radotp exited during start-up; see ${o.logFile}:\n${tail(o.logFile)}`);
    const rtt = await statusServerProbe({ port: o.port, secret: o.secret, timeoutMs: 300 }).catch(() => null);
    if (rtt !== null) {
      const healthy = await fetch(`http://127.0.0.1:${o.httpPort}/healthz`).then((r) => r.ok, () => false);
      // and the login cache is warm: otherwise the first round measures the warm-up, not the logins
      if (healthy && (await scrapeMetrics(o.httpPort).then((m) => m.get('radotp_login_cache_warmed') === 1, () => false))) return proc;
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`radotp not ready after 60 s; see ${o.logFile}`);
    }
    await sleep(200);
  }
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Prometheus text from /metrics, parsed to "name{labels}" -> value. */
export async function scrapeMetrics(httpPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * Quantiles (ms) of a Prometheus histogram over an interval, from two scrapes: linear within the
 * bucket that holds the quantile, so only as fine as the buckets.
 */
export function histogramQuantiles(before: Map<string, number>, after: Map<string, number>, name: string, qs: number[]): number[] | undefined {
  const buckets: { le: number; count: number }[] = [];
  for (const [k, v] of after) {
    const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(k);
    if (m) buckets.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: v - (before.get(k) ?? 0) });
  }
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  return qs.map((q) => {
    const rank = q * total;
    let lowerLe = 0;
    let lowerCount = 0;
    for (const b of buckets) {
      if (b.count >= rank) {
        if (b.le === Infinity) return lowerLe * 1000;
        const within = b.count === lowerCount ? 0 : (rank - lowerCount) / (b.count - lowerCount);
        return (lowerLe + within * (b.le - lowerLe)) * 1000;
      }
      lowerLe = b.le;
      lowerCount = b.count;
    }
    return lowerLe * 1000;
  });
}

export function metricSum(m: Map<string, number>, name: string, labelFilter?: string): number {
  let sum = 0;
  for (const [k, v] of m) {
    if (k === name || k.startsWith(`${name}{`)) {
      if (labelFilter && !k.includes(labelFilter)) continue;
      sum += v;
    }
  }
  return sum;
}

/** How much metricSum's figure grew between two scrapes. */
export function metricDelta(before: Map<string, number>, after: Map<string, number>, name: string, labelFilter?: string): number {
  return metricSum(after, name, labelFilter) - metricSum(before, name, labelFilter);
}

export { log };
