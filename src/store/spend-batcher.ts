import { sql } from 'kysely';
import type { Db } from './connect';

interface Pending {
  id: bigint;
  value: bigint;
  drift: number;
  resolve: (won: boolean) => void;
  reject: (e: unknown) => void;
}

/**
 * Spends codes in batches: every spend requested in one turn of the event loop goes to PostgreSQL as
 * ONE guarded UPDATE (per kind), instead of one transaction per login. The guard is the same as for a
 * single row — the row advances only if the new step/counter is beyond the stored one — so a code is
 * still accepted exactly once across nodes. Rows are locked in id order, so two batches (or two nodes)
 * can never deadlock; a token appearing twice in a turn waits for the next batch.
 */
export class SpendBatcher {
  private steps: Pending[] = [];
  private counters: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;

  /**
   * At most `maxInFlight` statements run at once; spends arriving meanwhile wait and go together in the
   * next one. Under load that makes fewer, larger batches (fewer commits and round trips), while a lone
   * login still goes out on the next turn of the event loop.
   */
  constructor(
    private readonly db: Db,
    private readonly maxBatch = 256,
    private readonly maxInFlight = 2,
  ) {}

  spendStep(id: bigint, step: number, drift: number): Promise<boolean> {
    return this.enqueue(this.steps, id, BigInt(step), drift);
  }

  spendCounter(id: bigint, counter: bigint): Promise<boolean> {
    return this.enqueue(this.counters, id, counter, 0);
  }

  private enqueue(queue: Pending[], id: bigint, value: bigint, drift: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      queue.push({ id, value, drift, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.inFlight >= this.maxInFlight) return; // the statement that finishes next flushes what waits
    const run = (queue: Pending[], kind: 'step' | 'counter') => {
      const batch: Pending[] = [];
      const later: Pending[] = [];
      const ids = new Set<bigint>();
      for (const p of queue) {
        if (ids.has(p.id) || batch.length >= this.maxBatch) later.push(p);
        else {
          ids.add(p.id);
          batch.push(p);
        }
      }
      if (batch.length) {
        this.inFlight++;
        void this.execute(batch, kind).finally(() => {
          this.inFlight--;
          if (this.steps.length || this.counters.length) this.schedule();
        });
      }
      return later;
    };
    this.steps = run(this.steps, 'step');
    this.counters = run(this.counters, 'counter');
    if (this.steps.length || this.counters.length) this.schedule();
  }

  private async execute(batch: Pending[], kind: 'step' | 'counter'): Promise<void> {
    const ids = batch.map((p) => String(p.id));
    const values = batch.map((p) => String(p.value));
    try {
      const result =
        kind === 'step'
          ? await sql<{ id: bigint }>`
              WITH v AS (SELECT * FROM unnest(${ids}::bigint[], ${values}::bigint[], ${batch.map((p) => p.drift)}::int[]) AS v(id, step, drift)),
              locked AS (SELECT t.id FROM token t JOIN v ON v.id = t.id ORDER BY t.id FOR UPDATE OF t)
              UPDATE token SET last_step = v.step, drift = v.drift, fail_count = 0, locked_until = NULL, last_used_at = now()
              FROM v
              WHERE token.id = v.id AND token.id IN (SELECT id FROM locked)
                AND token.last_step < v.step AND token.state = 'active'
                AND (token.locked_until IS NULL OR token.locked_until <= now())
              RETURNING token.id`.execute(this.db)
          : await sql<{ id: bigint }>`
              WITH v AS (SELECT * FROM unnest(${ids}::bigint[], ${values}::bigint[]) AS v(id, counter)),
              locked AS (SELECT t.id FROM token t JOIN v ON v.id = t.id ORDER BY t.id FOR UPDATE OF t)
              UPDATE token SET next_counter = v.counter + 1, fail_count = 0, locked_until = NULL, last_used_at = now()
              FROM v
              WHERE token.id = v.id AND token.id IN (SELECT id FROM locked)
                AND token.next_counter <= v.counter AND token.state = 'active'
                AND (token.locked_until IS NULL OR token.locked_until <= now())
              RETURNING token.id`.execute(this.db);
      const won = new Set(result.rows.map((r) => r.id));
      for (const p of batch) p.resolve(won.has(p.id));
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }
}
