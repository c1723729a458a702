/*
 * PSKC import benchmark: `node -r ./scripts/ts-register.js bench/pskc-import.ts [--tokens N] [--mode source|dist] [--keep]`
 *
 * --mode source (default) runs bin/radotp.js with RADOTP_FROM_SOURCE=1 (TypeScript compiled by swc on load);
 * --mode dist compiles with tsc into .bench/pskc-import-dist first and runs that.
 *
 * Writes an N-token (default 100 000) PSKC file protected with AES-128-CBC + HMAC-SHA1 (the common vendor
 * layout) with writePskcChunks, starts a throwaway PostgreSQL (server defaults: fsync and synchronous_commit
 * on), then runs `radotp token import` as its own process and reports its wall time and peak RSS — from
 * /usr/bin/time -v when installed, else by polling VmHWM in /proc/PID/status. Targets: < 30 s, < 300 MB.
 * Exits 1 if the import fails, its token count is wrong, or a target is missed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { writePskcChunks, type WritableKey } from '../src/pskc';
import { startMigratedPostgres } from './lib/migrated-postgres';
import { REPO } from './lib/radotp';

/** Our own compiled output: .bench/dist belongs to bench/run.ts, which deletes and rebuilds it. */
const OWN_DIST = join(REPO, '.bench', 'pskc-import-dist');

/** tsc into OWN_DIST (emits even with type errors elsewhere in a tree others are editing). */
function buildDist(): string {
  rmSync(OWN_DIST, { recursive: true, force: true });
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', OWN_DIST], { cwd: REPO, encoding: 'utf8' });
  const main = join(OWN_DIST, 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`build failed (tsc exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return main;
}

const TARGET_SECONDS = 30;
const TARGET_MB = 300;
const HOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:hotp';
const TOTP = 'urn:ietf:params:xml:ns:keyprov:pskc:totp';

function* benchKeys(count: number): Generator<WritableKey> {
  for (let i = 0; i < count; i++) {
    const totp = i % 4 === 3; // mostly event tokens, some time tokens, as in a typical vendor batch
    yield {
      serial: `BENCH${String(i).padStart(8, '0')}`,
      manufacturer: 'Bench Tokens',
      algorithm: totp ? TOTP : HOTP,
      digits: 6,
      secret: randomBytes(20),
      counter: totp ? undefined : 0n,
      timeInterval: totp ? 30 : undefined,
    };
  }
}

/** Streams the document to disk (respecting back-pressure), so generating it needs little memory too. */
async function writeBenchFile(file: string, count: number, psk: Buffer): Promise<void> {
  const out = createWriteStream(file);
  const chunks = writePskcChunks(benchKeys(count), {
    kind: 'psk',
    key: psk,
    algorithm: 'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
    mac: { algorithm: 'http://www.w3.org/2000/09/xmldsig#hmac-sha1', key: randomBytes(20) },
  });
  for (const chunk of chunks) if (!out.write(chunk)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  wallSeconds: number;
  peakRssMb: number;
  rssSource: string;
}

const GNU_TIME = '/usr/bin/time';

/** Runs the command; peak RSS from GNU time's "Maximum resident set size", else from polling VmHWM. */
async function measure(command: string[], env: NodeJS.ProcessEnv): Promise<Measured> {
  const useTime = existsSync(GNU_TIME);
  const argv = useTime ? [GNU_TIME, '-v', ...command] : command;
  const started = process.hrtime.bigint();
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let polledKb = 0;
  const poll = useTime
    ? undefined
    : setInterval(() => {
        try {
          const kb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
          polledKb = Math.max(polledKb, kb);
        } catch {
          // exited between polls: VmHWM is a high-water mark, the last reading stands
        }
      }, 20);
  const [code] = (await once(child, 'close')) as [number | null];
  if (poll) clearInterval(poll);
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (useTime) {
    const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? NaN);
    const ownOutput = stderr.slice(0, stderr.lastIndexOf('\tCommand being timed:'));
    return { code, stdout, stderr: ownOutput, wallSeconds, peakRssMb: kb / 1024, rssSource: '/usr/bin/time -v (Maximum resident set size)' };
  }
  return { code, stdout, stderr, wallSeconds, peakRssMb: polledKb / 1024, rssSource: '/proc/PID/status VmHWM, polled every 20 ms' };
}

async function countTokens(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query('SELECT count(*) AS n FROM token')).rows[0].n);
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      tokens: { type: 'string', default: '100000' },
      mode: { type: 'string', default: 'source' },
      keep: { type: 'boolean', default: false },
    },
  });
  const count = Number(values.tokens);
  if (!Number.isInteger(count) || count < 1) throw new Error('--tokens must be a positive integer');
  if (values.mode !== 'source' && values.mode !== 'dist') throw new Error('--mode is source or dist');

  const { dir, pgServer, configFile } = await startMigratedPostgres(os.tmpdir(), 'radotp-pskc-bench-');
  try {
    const file = join(dir, 'tokens.pskc.xml');
    const psk = randomBytes(16);
    let t0 = Date.now();
    await writeBenchFile(file, count, psk);
    console.log(`wrote ${count} tokens (AES-128-CBC + HMAC-SHA1) to ${file}: ${(statSync(file).size / 1e6).toFixed(1)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    let entry = join(REPO, 'bin', 'radotp.js');
    const env: NodeJS.ProcessEnv = { ...process.env, RADOTP_CONFIG: configFile, RADOTP_FROM_SOURCE: '1' };
    if (values.mode === 'dist') {
      t0 = Date.now();
      entry = buildDist();
      console.log(`built ${OWN_DIST} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      delete env.RADOTP_FROM_SOURCE;
    }
    const r = await measure([process.execPath, entry, 'token', 'import', file, '--psk', psk.toString('hex'), '--json'], env);
    if (r.code !== 0) {
      console.error(`import failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
      return 1;
    }
    const summary = JSON.parse(r.stdout) as { imported: number };
    const stored = await countTokens(pgServer.url);
    const result = {
      tokens: count,
      mode: values.mode,
      postgres: pgServer.version,
      postgresSettings: pgServer.settings,
      wallSeconds: Number(r.wallSeconds.toFixed(2)),
      tokensPerSecond: Math.round(count / r.wallSeconds),
      peakRssMb: Number(r.peakRssMb.toFixed(1)),
      rssSource: r.rssSource,
      imported: summary.imported,
      storedInDatabase: stored,
      targets: { wallSeconds: TARGET_SECONDS, peakRssMb: TARGET_MB },
    };
    console.log(JSON.stringify(result, null, 2));
    const problems = [
      stored !== count && `the database holds ${stored} tokens, expected ${count}`,
      summary.imported !== count && `the import reported ${summary.imported} tokens, expected ${count}`,
      r.wallSeconds >= TARGET_SECONDS && `wall time ${r.wallSeconds.toFixed(1)} s is not under ${TARGET_SECONDS} s`,
      !(r.peakRssMb < TARGET_MB) && `peak RSS ${r.peakRssMb.toFixed(0)} MB is not under ${TARGET_MB} MB`,
    ].filter(Boolean);
    for (const p of problems) console.error(`FAIL: ${p}`);
    if (problems.length === 0) console.log(`PASS: ${count} tokens in ${r.wallSeconds.toFixed(1)} s, peak RSS ${r.peakRssMb.toFixed(0)} MB`);
    return problems.length ? 1 : 0;
  } finally {
    await pgServer.stop();
    if (values.keep) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    console.error(e);
    process.exitCode = 1;
  },
);
