import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Kysely } from 'kysely';
import { hashPassword } from '../../src/auth/password-hash';
import { base32Encode } from '../../src/otp/base32';
import type { Database } from '../../src/store/schema';
import { refreshPlannerStatistics } from '../../src/store/maintenance';
import { UserRepository } from '../../src/store/users';
import { log, pool } from '../lib/util';
import type { BenchContext, Scenario } from './types';

const REPO = join(__dirname, '..', '..');
/**
 * Requests before the measured phase of each otp-only run, on users of their own: enough for V8 to have
 * optimised the login path (with a few hundred, the first round still measured the JIT compiling it).
 * A server runs for months; FreeRADIUS, compiled ahead of time, gets its usual warmup too.
 */
const WARMUP = 5000;
const APPEND_PASSWORD = 'bench-tpw-1';

/** The token method is being written by someone else: run these only once it exists and is registered. */
function tokenMethodMissing(): string | undefined {
  if (!existsSync(join(REPO, 'src', 'auth', 'methods', 'token.ts'))) return 'src/auth/methods/token.ts does not exist yet';
  const pipeline = readFileSync(join(REPO, 'src', 'app', 'pipeline.ts'), 'utf8');
  if (!/new TokenMethod\(/.test(pipeline)) return 'the token method is not registered in src/app/pipeline.ts yet';
  return undefined;
}

/**
 * radotp enforces replay protection (a code is accepted once per token), and loadgen runs are separate
 * processes that do not know which codes the previous run sent. So every radotp run gets users of its own
 * (warmup + count users, each sent exactly one code); `--totp-unique` is kept as a safety net.
 */
function usersPerRun(ctx: BenchContext, count: number, warmup: number): number {
  void ctx;
  return count + warmup;
}

/**
 * Users with method `token` and one active software TOTP token each (SHA-1, 6 digits, 30 s: what FreeRADIUS's
 * rlm_totp does), created through the store's repositories, a few hundred per transaction.
 */
export async function provisionTotpUsers(
  ctx: BenchContext,
  o: { prefix: string; runs: number; perRun: number; passwordHash: string | null; password: string | null; fileStem: string },
): Promise<void> {
  const t0 = Date.now();
  const jobs: { run: number; index: number }[] = [];
  for (let run = 0; run < o.runs; run++) for (let index = 1; index <= o.perRun; index++) jobs.push({ run, index });
  const lines: string[][] = Array.from({ length: o.runs }, () => new Array<string>(o.perRun));
  const batches: (typeof jobs)[] = [];
  for (let i = 0; i < jobs.length; i += 250) batches.push(jobs.slice(i, i + 250));
  await pool(batches, 6, async (batch) => {
    await ctx.store.db.transaction().execute(async (tx) => {
      const users = new UserRepository(tx as unknown as Kysely<Database>);
      for (const { run, index } of batch) {
        const username = `${o.prefix}${run}x${String(index).padStart(6, '0')}`;
        const user = await users.add({ username, passwordHash: o.passwordHash, method: 'token' });
        const seed = randomBytes(20);
        await ctx.store.tokens.create(
          {
            serial: `bench-${username}`,
            userId: user.id,
            origin: 'software',
            kind: 'totp',
            state: 'active',
            algorithm: 'sha1',
            digits: 6,
            period: 30,
            seed,
          },
          tx as unknown as Kysely<Database>,
        );
        lines[run][index - 1] = `${username} ${o.password ?? '-'} ${base32Encode(seed)}`;
      }
    });
  });
  await refreshPlannerStatistics(ctx.store.db); // as radotp's own bulk imports do
  for (let run = 0; run < o.runs; run++) writeFileSync(join(ctx.workDir, `${o.fileStem}-run${run}.txt`), shuffled(lines[run]).join('\n') + '\n');
  log(`${o.fileStem}: ${jobs.length} token users (${o.runs} runs x ${o.perRun}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** Fisher-Yates with crypto randomness. */
function shuffled<T>(items: T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomBytes(4).readUInt32LE(0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export const otpOnlyScenario: Scenario = {
  name: 'otp-only',
  title: 'TOTP code alone (login style otp-only; FreeRADIUS rlm_totp, users-otp.txt)',
  loginStyle: 'otp-only',
  unavailable: tokenMethodMissing,
  async provision(ctx) {
    await provisionTotpUsers(ctx, {
      prefix: 'otp',
      runs: ctx.radotpRuns,
      perRun: usersPerRun(ctx, ctx.opts.otpCount, WARMUP),
      passwordHash: null,
      password: null,
      fileStem: 'users-otp-only',
    });
  },
  radotpLoad(ctx, run) {
    return {
      usersFile: join(ctx.workDir, `users-otp-only-run${run}.txt`),
      totp: true,
      totpUnique: true,
      concurrency: ctx.opts.concurrency,
      count: ctx.opts.otpCount,
      warmup: WARMUP,
      duration: ctx.opts.duration,
    };
  },
  freeradiusLoad(ctx) {
    return {
      usersFile: ctx.anchor.usersFile('otp'),
      totp: true,
      concurrency: ctx.opts.concurrency,
      count: ctx.opts.frCount,
      warmup: ctx.opts.frWarmup,
      duration: ctx.opts.duration,
    };
  },
};

export const appendScenario: Scenario = {
  name: 'append',
  title: 'password + TOTP in User-Password (login style append; radotp: argon2id + TOTP; FreeRADIUS users-totp.txt)',
  loginStyle: 'append',
  unavailable: tokenMethodMissing,
  async provision(ctx) {
    const hash = await hashPassword(APPEND_PASSWORD); // one hash for all, as for PAP
    await provisionTotpUsers(ctx, {
      prefix: 'tpw',
      runs: ctx.radotpRuns,
      perRun: usersPerRun(ctx, ctx.opts.appendCount, 64),
      passwordHash: hash,
      password: APPEND_PASSWORD,
      fileStem: 'users-append',
    });
  },
  radotpLoad(ctx, run) {
    return {
      usersFile: join(ctx.workDir, `users-append-run${run}.txt`),
      totp: true,
      totpUnique: true,
      concurrency: ctx.opts.concurrency,
      count: ctx.opts.appendCount,
      warmup: 64,
      duration: ctx.opts.duration,
      timeoutMs: 5000, // argon2-bound like PAP: queueing, not loss
    };
  },
  freeradiusLoad(ctx) {
    return {
      usersFile: ctx.anchor.usersFile('totp'),
      totp: true,
      concurrency: ctx.opts.concurrency,
      count: ctx.opts.frCount,
      warmup: ctx.opts.frWarmup,
      duration: ctx.opts.duration,
    };
  },
};
