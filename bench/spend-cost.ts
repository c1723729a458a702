/*
 * What a spend costs PostgreSQL: `node -r ./scripts/ts-register.js bench/spend-cost.ts [--tokens N] [--batches 1,8,32,128]
 *   [--seconds S] [--repeats R] [--out FILE] [--keep]` (about 30 s).
 *
 * WHY: otp-only throughput is bounded by the spend's round trip to PostgreSQL (see README.md, "Where the time goes"),
 * and PostgreSQL shares the benchmark's two CPUs with radotp and loadgen. A change to the spend statement that saves
 * 10 % of PostgreSQL's work is lost in the end-to-end run's noise (the same code measures x0.40-0.56 there). This
 * measures the statement alone, with nothing else running: the CPU time of the one backend that runs it, read from
 * /proc/<pid>/schedstat (nanoseconds), for batches of several sizes, so a statement's cost splits into what it costs
 * once (bind, executor start, the durable commit) and what each spent token adds.
 *
 * A throwaway PostgreSQL (server defaults: fsync and synchronous_commit on) gets radotp's schema (migrations) and
 * N users with one active TOTP token each (method `token`), inserted in bulk. The statements are sent by radotp's own
 * SpendBatcher: each round spends the codes of `batch` distinct random tokens in one turn of the event loop (a step past
 * their last, a request fingerprint, their owners, and token_login on: an otp-only login, the benchmark's scenario),
 * which the batcher sends as one SPEND_STEP. It runs on a connection of radotp's own spend pool (src/store/connect.ts),
 * with that pool's session settings, and the first statements are of the smallest batch, as on a server starting (how
 * PostgreSQL plans a prepared statement depends on its first runs). Every spend must win; the tool exits 1 if one does not (the guard refused a code it
 * should have taken). The plans PostgreSQL made are reported (pg_prepared_statements: generic and custom).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { connect } from '../src/store/connect';
import type { StatementRunner } from '../src/store/prepared';
import { SPEND_STEP, SpendBatcher } from '../src/store/spend-batcher';
import { startMigratedPostgres } from './lib/migrated-postgres';
import { runSeconds } from './lib/proc';
import { median } from './lib/util';

const USAGE = `usage: node -r ./scripts/ts-register.js bench/spend-cost.ts [options]
  --tokens N        users, one active TOTP token each (default 50000)
  --batches LIST    spends per statement to measure, comma-separated (default 1,8,32,128)
  --seconds S       how long each measurement runs (default 2)
  --repeats R       measurements per batch size, in rotation; the median is reported (default 3)
  --out FILE        also write the figures as JSON
  --keep            keep the work directory (PostgreSQL's log)`;

interface Measurement {
  batch: number;
  statements: number;
  /** The backend's CPU per statement and per spend, microseconds. */
  cpuPerStatementUs: number;
  cpuPerSpendUs: number;
  /** Wall time per statement as the client saw it (round trip included), milliseconds. */
  wallPerStatementMs: number;
}

/** Least-squares fit of cost = once + perSpend * batch over the batch sizes' medians. */
function fit(points: readonly { batch: number; cpuPerStatementUs: number }[]): { onceUs: number; perSpendUs: number } {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.batch, 0) / n;
  const my = points.reduce((s, p) => s + p.cpuPerStatementUs, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.batch - mx) * (p.cpuPerStatementUs - my);
    sxx += (p.batch - mx) ** 2;
  }
  const perSpendUs = sxx === 0 ? NaN : sxy / sxx;
  return { onceUs: my - perSpendUs * mx, perSpendUs };
}

async function provision(client: pg.ClientBase, tokens: number): Promise<void> {
  // In bulk, as an import would leave them; seeds are random bytes the statement never reads.
  await client.query(`INSERT INTO app_user (username, method) SELECT 'spend' || g, 'token' FROM generate_series(1, $1::int) g`, [tokens]);
  await client.query(
    `INSERT INTO token (serial, user_id, origin, kind, state, seed_sealed)
     SELECT 'SPEND' || u.id, u.id, 'software', 'totp', 'active', decode(md5(u.id::text) || md5(u.username), 'hex') FROM app_user u`,
  );
  // as autovacuum would long since have done on a server in service (see README.md)
  await client.query('VACUUM ANALYZE app_user');
  await client.query('VACUUM ANALYZE token');
}

/** One measurement: rounds of `batch` spends, each round's spends requested together so the batcher sends one statement. */
async function measure(client: pg.ClientBase, backendPid: number, tokens: { id: bigint; userId: bigint }[], batch: number, seconds: number, nextStep: () => number): Promise<Measurement> {
  let statements = 0;
  const run: StatementRunner = async <R extends object>(statement: { name: string; text: string }, values: unknown[]) => {
    statements++;
    return (await client.query<R>({ name: statement.name, text: statement.text, values })).rows;
  };
  const batcher = new SpendBatcher(run);
  const spentBy = Buffer.from('a1b2c3d4e5f60718293a4b5c6d7e8f90', 'hex');
  let spent = 0;
  const cpu0 = runSeconds(backendPid);
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const picked = new Set<number>();
    while (picked.size < batch) picked.add(Math.floor(Math.random() * tokens.length));
    const step = nextStep();
    const won = await Promise.all([...picked].map((i) => batcher.spendStep(tokens[i]!.id, tokens[i]!.userId, step, 0, spentBy, true)));
    const wins = won.filter(Boolean).length;
    if (wins !== batch) throw new Error(`${batch} spends requested together won ${wins}: the guard refused codes it should have taken`);
    spent += wins;
  }
  const wallMs = performance.now() - t0;
  const cpuUs = (runSeconds(backendPid) - cpu0) * 1e6;
  return { batch, statements, cpuPerStatementUs: cpuUs / statements, cpuPerSpendUs: cpuUs / spent, wallPerStatementMs: wallMs / statements };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      tokens: { type: 'string' },
      batches: { type: 'string' },
      seconds: { type: 'string' },
      repeats: { type: 'string' },
      out: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  /** `text` (default `fallback`) as a number above 0, a whole one unless `fraction`; else a usage error naming the flag. */
  const positive = (name: string, text: string | undefined, fallback: number, fraction = false): number => {
    const n = text === undefined ? fallback : Number(text);
    if (!(n > 0) || !Number.isFinite(n) || (!fraction && !Number.isInteger(n))) throw new Error(`--${name} must be a positive ${fraction ? 'number' : 'whole number'}, got ${JSON.stringify(text)}`);
    return n;
  };
  const tokenCount = positive('tokens', values.tokens, 50_000);
  const seconds = positive('seconds', values.seconds, 2, true);
  const repeats = positive('repeats', values.repeats, 3);
  const batches = (values.batches ?? '1,8,32,128').split(',').map((b) => positive('batches', b, NaN));
  if (batches.some((b) => b > tokenCount)) throw new Error('--batches: a batch cannot be larger than --tokens');

  // on disk, as bench/run.ts: the commit's flush is part of the cost
  const { dir, pgServer } = await startMigratedPostgres('/var/tmp', 'radotp-spend-cost-');
  try {
    const conn = connect(pgServer.url, { poolSize: 2 });
    const client = await conn.spendPool.connect();
    try {
      const t0 = performance.now();
      await provision(client, tokenCount);
      const tokens = (await client.query<{ id: string; user_id: string }>('SELECT id, user_id FROM token ORDER BY id')).rows.map((r) => ({ id: BigInt(r.id), userId: BigInt(r.user_id) }));
      console.log(`PostgreSQL ${pgServer.version}, fsync=${pgServer.settings.fsync} synchronous_commit=${pgServer.settings.synchronous_commit}; ${tokens.length} tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const backendPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      let step = 1;
      const nextStep = () => step++;
      await measure(client, backendPid, tokens, Math.min(...batches), Math.min(seconds, 1), nextStep); // as a server starts; pages read once
      const runs = new Map<number, Measurement[]>(batches.map((b) => [b, []]));
      for (let r = 0; r < repeats; r++) for (const b of batches) runs.get(b)!.push(await measure(client, backendPid, tokens, b, seconds, nextStep));

      const medians = batches.map((batch) => {
        const ms = runs.get(batch)!;
        return {
          batch,
          statements: ms.reduce((s, m) => s + m.statements, 0),
          cpuPerStatementUs: median(ms.map((m) => m.cpuPerStatementUs)),
          cpuPerSpendUs: median(ms.map((m) => m.cpuPerSpendUs)),
          wallPerStatementMs: median(ms.map((m) => m.wallPerStatementMs)),
        };
      });
      console.log('spends/stmt  statements  backend CPU/stmt  backend CPU/spend  wall/stmt');
      for (const m of medians) {
        console.log(
          `${String(m.batch).padStart(11)}  ${String(m.statements).padStart(10)}  ${m.cpuPerStatementUs.toFixed(0).padStart(13)} us  ${m.cpuPerSpendUs.toFixed(1).padStart(14)} us  ${m.wallPerStatementMs.toFixed(2).padStart(6)} ms`,
        );
      }
      const model = medians.length > 1 ? fit(medians) : undefined;
      if (model) console.log(`fit: ${model.onceUs.toFixed(0)} us a statement + ${model.perSpendUs.toFixed(1)} us a spend (backend CPU, medians of ${repeats})`);
      const plans = (await client.query<{ generic: number; custom: number }>('SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name = $1', [SPEND_STEP.name])).rows[0];
      console.log(`plans: ${plans?.generic} generic, ${plans?.custom} custom`);
      if (values.out) writeFileSync(values.out, JSON.stringify({ postgres: pgServer.version, settings: pgServer.settings, tokens: tokens.length, seconds, repeats, medians, fit: model, plans }, null, 2) + '\n');
    } finally {
      client.release();
      await conn.close();
    }
    return 0;
  } finally {
    await pgServer.stop();
    if (values.keep) console.log(`work directory kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`spend-cost: ${(e as Error).message}`);
    process.exit(1);
  },
);
