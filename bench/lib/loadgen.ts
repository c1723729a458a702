import { join } from 'node:path';
import { SHARED_DIR } from '../../test/support/shared';
import { run } from './util';

export const SHARED_BENCH = process.env.RADOTP_BENCH_SHARED ?? join(SHARED_DIR, 'bench');
export const LOADGEN = `${SHARED_BENCH}/loadgen.mjs`;

/** What we pass to loadgen.mjs (see `node loadgen.mjs --help`). */
export interface LoadSpec {
  usersFile: string;
  totp?: boolean;
  totpUnique?: boolean;
  concurrency: number;
  count: number;
  warmup: number;
  /** Cap in seconds on the measured phase. */
  duration: number;
  timeoutMs?: number;
  retries?: number;
  expect?: 'accept' | 'reject' | 'any';
}

/** The one JSON line loadgen prints (fields we use; the rest is kept as is). */
export interface LoadResult {
  label: string | null;
  issued: number;
  responses: number;
  accept: number;
  reject: number;
  challenge: number;
  timeouts: number;
  retransmits: number;
  invalid: Record<string, number>;
  elapsed_s: number;
  throughput_rps: number;
  accept_rps: number;
  latency_ms: { min: number; p50: number; p90: number; p99: number; max: number; mean: number };
  client_cpu_pct: number | null;
  server_cpu_pct: number | null;
  stopped_by: string;
  [k: string]: unknown;
}

export async function runLoadgen(target: { port: number; secret: string; pid?: number }, spec: LoadSpec, label: string): Promise<{ result: LoadResult; exitCode: number | null; stderr: string }> {
  const args = [
    LOADGEN,
    '--host', '127.0.0.1',
    '--port', String(target.port),
    '--secret', target.secret,
    '--users', spec.usersFile,
    '--concurrency', String(spec.concurrency),
    '--count', String(spec.count),
    '--warmup', String(spec.warmup),
    '--duration', String(spec.duration),
    '--timeout', String(spec.timeoutMs ?? 1000),
    '--retries', String(spec.retries ?? 2),
    '--label', label,
    '--expect', spec.expect ?? 'accept',
  ];
  if (spec.totp) args.push('--totp');
  if (spec.totpUnique) args.push('--totp-unique');
  if (target.pid) args.push('--server-pid', String(target.pid));
  const r = await run(process.execPath, args);
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (!line) throw new Error(`loadgen (${label}) printed no result (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  return { result: JSON.parse(line) as LoadResult, exitCode: r.code, stderr: r.stderr };
}
