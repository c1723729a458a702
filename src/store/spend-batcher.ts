import { LOCK_NOT_AVAILABLE, postgresSqlstate } from './connect';
import type { PreparedStatement, StatementRunner } from './prepared';

interface Pending {
  id: bigint;
  /** The user the code is spent for: the token must still be theirs (see the guard). null: nobody's, never spent. */
  owner: bigint | null;
  /** The owner must still log in with a token (method `token`, see the guard): nothing else of the login read it. */
  tokenLogin: boolean;
  value: bigint;
  drift: number;
  /** The spending request's fingerprint in hex (see retransmission.ts in src/auth); null: none (an admin's check). */
  spentBy: string | null;
  resolve: (won: boolean) => void;
  reject: (e: unknown) => void;
}

type Kind = 'step' | 'counter';

/*
 * The guard is the replay protection (RFC 6238 §5.2, RFC 4226 §7.2): a row advances only past its
 * stored step/counter, so of two statements carrying the same code (two nodes, same instant) exactly
 * one updates the row; the other waits for the row lock, re-checks the guard and finds nothing to do.
 * The ids arrive sorted and the plan is a nested loop over the array (the generic plan, which the spend pool's
 * connections always run: see GENERIC_PLANS in connect.ts), so every statement locks its rows in ascending id order and two
 * statements cannot wait on each other in a cycle. Should a plan ever differ, PostgreSQL detects the
 * deadlock, aborts one statement whole, and the batch is sent again (see execute).
 * A spend leaves `locked_until` alone: the guard already passes once a lock has expired, and naming the
 * column would fire the admin-change trigger on every row (see migration 0005); the next wrong code
 * (recordFailure) or `token unlock` clears it.
 * The spent ids come back as one comma-separated text (one row to parse, not one per token); the
 * arrays go in as array literals built here (integers, t/f, and hex digits or NULL, so nothing needs quoting).
 * The same UPDATE records which request spent the row (`last_spent_by`, migration 0011): no statement more
 * per login; only a spend that loses reads it back (TokenRepository.lastSpend), to tell a NAS's
 * retransmission to another node (RFC 5080 §2.2.2) from a replay.
 * The guard also requires the token to be the spending user's (`user_id`, one more array): a node's login
 * cache may still hold a token under the user it was unassigned from (the change's NOTIFY not yet heard), and
 * that user's login with the token's current code was spent and accepted for them, who no longer held it
 * (RFC 6238 §5.1: the verifier checks the code against the prover's own shared secret). A NULL owner (a
 * token read as nobody's) never equals, so it is never spent.
 * The token must be within its validity (valid_from/valid_to, the PSKC file's), by the database's clock: a node's cache
 * checks it by the node's clock (see AuthCache), on the validity it read; one moved since (a DBA's UPDATE, before the
 * node heard) or a node clock behind the database's had the token's code spent and accepted after its end.
 * With `token_login` (an otp-only login: no password read tells the user's method fresh, see SpendOptions.tokenLogin),
 * the owner must also still log in with a token (app_user.method): a node's cache may still hold them as a `token`
 * user after `radotp user set --method password`, and their token's code alone was then accepted as their whole
 * login, which the database as it is now refuses (their password, not a code, is their login). A correlated EXISTS
 * behind an OR: it stays a subplan (one primary-key probe of app_user per otp-only row that passes the rest), so the
 * plan above (a nested loop over the array, token by an index, in the array's id order) is unchanged; the validity
 * is a filter on the token row already fetched. test/store/spend-plan.test.ts pins the plan.
 * The statements' names changed with their parameters: a server connection kept across a rolling upgrade
 * (PgBouncer in session mode without DISCARD ALL) may still hold the old ones prepared under the old names.
 */
export const SPEND_STEP: PreparedStatement = {
  name: 'radotp_spend_step_for_token_login',
  text: `WITH spent AS (
      UPDATE token SET last_step = v.step, drift = v.drift, fail_count = 0, last_used_at = now(), last_spent_by = decode(v.spent_by, 'hex')
      FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::bigint[], $6::boolean[]) AS v(id, step, drift, spent_by, user_id, token_login)
      WHERE token.id = v.id AND token.last_step < v.step AND token.state = 'active' AND token.user_id = v.user_id
        AND (token.locked_until IS NULL OR token.locked_until <= now())
        AND (token.valid_to IS NULL OR token.valid_to > now()) AND (token.valid_from IS NULL OR token.valid_from <= now())
        AND (NOT v.token_login OR EXISTS (SELECT 1 FROM app_user u WHERE u.id = token.user_id AND u.method = 'token'))
      RETURNING token.id)
    SELECT string_agg(id::text, ',') AS ids FROM spent`,
};

export const SPEND_COUNTER: PreparedStatement = {
  name: 'radotp_spend_counter_for_token_login',
  text: `WITH spent AS (
      UPDATE token SET next_counter = v.counter + 1, fail_count = 0, last_used_at = now(), last_spent_by = decode(v.spent_by, 'hex')
      FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::boolean[]) AS v(id, counter, spent_by, user_id, token_login)
      WHERE token.id = v.id AND token.next_counter <= v.counter AND token.state = 'active' AND token.user_id = v.user_id
        AND (token.locked_until IS NULL OR token.locked_until <= now())
        AND (token.valid_to IS NULL OR token.valid_to > now()) AND (token.valid_from IS NULL OR token.valid_from <= now())
        AND (NOT v.token_login OR EXISTS (SELECT 1 FROM app_user u WHERE u.id = token.user_id AND u.method = 'token'))
      RETURNING token.id)
    SELECT string_agg(id::text, ',') AS ids FROM spent`,
};

/** Ascending token id: the order every spend statement locks its rows in (see SPEND_STEP). */
const byTokenId = (a: Pending, b: Pending): number => (a.id < b.id ? -1 : 1);

/** A PostgreSQL array literal of integers given as decimal strings (or of hex strings and NULLs). */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.join(',')}}`;
}

/** SQLSTATE 40P01 deadlock_detected: the statement was rolled back whole, so sending it again is safe. */
const DEADLOCK = '40P01';
const MAX_ATTEMPTS = 3;

/**
 * After a statement's lock wait ran out, how many of its spends go out alone at once: the batcher's own two in
 * flight, so the next batches still find connections in the spend pool (half of database.poolSize, at least 2).
 */
const ALONE_AT_ONCE = 2;

/**
 * How many spends found held alone before the rest of the statement's wait together, untried. A few rows held (one
 * user's, a script's few) are found alone, each costing its lock wait (SPEND_LOCK_WAIT_MS); more reads as many rows
 * held (a script's `SELECT … FOR UPDATE` of a whole table; `keys rotate` no longer does, see migration 0018), where finding each alone would cost a lock wait
 * each, the spend pool kept busy, while every one of them waits anyway: those go on together, as before the fix.
 */
const MAX_HELD_ALONE = 3;

/**
 * How long a statement in flight holds its slot (see maxInFlight) before the spends waiting behind it go out in
 * another. WHY: a statement held up by a row another session holds (a transaction left open on a user's token
 * row) waits out database.queryTimeout; with two users' rows held, both slots did, and every other user's code on
 * the node waited in memory behind them, up to 10 s and again at each retry of the held users' NASes. A spend takes
 * milliseconds (17 ms at the benchmark's p99), so one still running after this is held up, not busy.
 */
export const HELD_UP_STATEMENT_MS = 500;

/**
 * How long the one statement in flight keeps the spends arriving meanwhile waiting for it (they then go together in
 * the next, larger batch) before a second statement may go beside it (up to maxInFlight, see slotFree). WHY: with two
 * statements in flight at once from the start, each carried half the spends, and PostgreSQL ran twice the
 * statements and commits for the same logins. Measured in the benchmark (otp-only, concurrency 64, 2 shared vCPUs),
 * ten alternating pairs of 3-round runs against two at once (six with strictly one at a time, four with this rule):
 * PostgreSQL's CPU per accepted login 18.1-18.7 µs instead of 20.2-27.1 µs (medians of each set's rounds), PostgreSQL
 * waiting for a CPU 27 % of the time instead of 49-51 %, 34-36 WAL flushes per 1000 logins instead of 46-50; the
 * throughput ratio against FreeRADIUS was ahead in eight of the ten pairs, by less than the runs' own spread.
 * A statement still running after this is slow (a spend takes 1-3 ms there, and a held row costs SPEND_LOCK_WAIT_MS):
 * the next one goes beside it, as before, so a held row delays the node's other logins by this much more at most.
 */
export const SECOND_STATEMENT_AFTER_MS = 20;

/**
 * What a node's spends cost it, counted since start (read at scrape, see Metrics.watchSpends): batches sent, codes
 * in them, and the time from each batch sent until it was decided, in seconds. WHY: a login's code waits for its
 * batch, and under load for the batch ahead of it too; a round trip grown from a millisecond or two to tens says
 * the database (or the way to it) is slow before the logins time out, and codes per batch say how much is shared.
 */
export interface SpendStats {
  batches: number;
  codes: number;
  seconds: number;
}

/**
 * Spends codes in batches: every spend requested in one turn of the event loop goes to PostgreSQL as
 * ONE guarded UPDATE (per kind), instead of one transaction per login. The guard is the same as for a
 * single row, so a code is still accepted exactly once across nodes; a token appearing twice in a turn
 * waits for the next batch.
 */
export class SpendBatcher {
  readonly stats: SpendStats = { batches: 0, codes: 0, seconds: 0 };
  private steps: Pending[] = [];
  private counters: Pending[] = [];
  private scheduled = false;
  /** When each statement in flight started (performance.now()), oldest first. */
  private readonly startedAt: number[] = [];
  /** The one timer that looks again when an age of a statement in flight changes slotFree's answer, and when. */
  private recheck: NodeJS.Timeout | undefined;
  private recheckAt = Infinity;

  /**
   * One statement runs at a time, at most `maxInFlight` once it is slow (see SECOND_STATEMENT_AFTER_MS); spends
   * arriving meanwhile wait and go together in the next one. Under load that makes fewer, larger batches (fewer
   * commits and round trips), while a lone login still goes out on the next turn of the event loop.
   * `run`: the ordinary wait for a lock (up to database.queryTimeout). `lockBounded`: where a statement waits for a
   * lock only briefly (the spend pool's connections, see connect.ts); batches go there first when given (see
   * execute). Not within one transaction (an admin command's): a statement that fails there aborts it.
   */
  constructor(
    private readonly run: StatementRunner,
    private readonly lockBounded?: StatementRunner,
    private readonly maxBatch = 256,
    private readonly maxInFlight = 2,
  ) {}

  /**
   * `owner`: the user spending it (the token must still be theirs); `spentBy`: the spending request's
   * fingerprint, recorded with the spend (null: none); `tokenLogin`: the owner must still have method `token`.
   */
  spendStep(id: bigint, owner: bigint | null, step: number, drift: number, spentBy: Buffer | null = null, tokenLogin = false): Promise<boolean> {
    return this.enqueue(this.steps, id, owner, BigInt(step), drift, spentBy, tokenLogin);
  }

  spendCounter(id: bigint, owner: bigint | null, counter: bigint, spentBy: Buffer | null = null, tokenLogin = false): Promise<boolean> {
    return this.enqueue(this.counters, id, owner, counter, 0, spentBy, tokenLogin);
  }

  private enqueue(queue: Pending[], id: bigint, owner: bigint | null, value: bigint, drift: number, spentBy: Buffer | null, tokenLogin: boolean): Promise<boolean> {
    return new Promise((resolve, reject) => {
      queue.push({ id, owner, tokenLogin, value, drift, spentBy: spentBy && spentBy.toString('hex'), resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false; // a pending setImmediate finding nothing to send is harmless
    if (this.steps.length === 0 && this.counters.length === 0) return;
    // the statement that finishes next flushes what waits, unless it is slow or held up (see slotFree)
    if (this.startedAt.length > 0 && !this.slotFree()) return;
    this.steps = this.start(this.steps, 'step');
    this.counters = this.start(this.counters, 'counter');
    if (this.steps.length || this.counters.length) this.schedule();
  }

  /** Sends one batch from `queue` (one entry per token, in id order); returns what has to wait. */
  private start(queue: Pending[], kind: Kind): Pending[] {
    if (queue.length === 0) return queue;
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
    batch.sort(byTokenId);
    const at = performance.now();
    this.startedAt.push(at);
    this.stats.batches++;
    this.stats.codes += batch.length;
    void this.execute(batch, kind).finally(() => {
      this.stats.seconds += (performance.now() - at) / 1000;
      this.startedAt.splice(this.startedAt.indexOf(at), 1);
      // what queued meanwhile has waited a whole round trip already: send it now, not a loop turn later
      if (this.steps.length || this.counters.length) this.flush();
    });
    return later;
  }

  /**
   * Whether another statement may go out beside those in flight: fewer than maxInFlight of them are younger than
   * HELD_UP_STATEMENT_MS (the others are held up, and hold no slot), and none is younger than
   * SECOND_STATEMENT_AFTER_MS, unless a whole batch waits (then waiting makes no batch larger). If not, one timer
   * looks again when the first of those ages changes the answer (a statement finishing first flushes as before).
   * Statements stay bounded by the pool (database.poolSize).
   */
  private slotFree(): boolean {
    const now = performance.now();
    const batchWaits = this.steps.length >= this.maxBatch || this.counters.length >= this.maxBatch;
    let young = 0;
    let fresh = false;
    let nextChange = Infinity;
    for (const at of this.startedAt) {
      const age = now - at;
      if (age >= HELD_UP_STATEMENT_MS) continue;
      young++;
      if (age < SECOND_STATEMENT_AFTER_MS && !batchWaits) {
        fresh = true;
        nextChange = Math.min(nextChange, at + SECOND_STATEMENT_AFTER_MS);
      } else nextChange = Math.min(nextChange, at + HELD_UP_STATEMENT_MS);
    }
    if (young < this.maxInFlight && !fresh) return true;
    // a timer armed for a later moment (the statements it was armed for have ended since) is brought forward
    if (nextChange < this.recheckAt) {
      clearTimeout(this.recheck);
      this.recheckAt = nextChange;
      this.recheck = setTimeout(() => {
        this.recheck = undefined;
        this.recheckAt = Infinity;
        this.flush();
      }, nextChange - now);
      this.recheck.unref();
    }
    return false;
  }

  /**
   * Sends `batch` as one statement, on `lockBounded` when there is one. WHY the rest: one user's token row held by
   * another session (a transaction left open on it, a DBA's `SELECT … FOR UPDATE`) held up the
   * statement carrying that user's spend, and with it every other user of the batch, until database.queryTimeout:
   * they failed (database_timeout) although their rows were free, a new batch of them at each retry of the held
   * user's NAS. On `lockBounded` a lock is waited for briefly (SPEND_LOCK_WAIT_MS, see connect.ts): once it runs out
   * (55P03 lock_not_available) the statement was rolled back whole, nothing of it spent, so each spend is sent
   * again alone there (the free ones are decided at once; see heldAlone for how many), and only those that wait on a
   * lock again alone (and, past MAX_HELD_ALONE of them, those not tried) go together, with the ordinary wait, on
   * `run`. The guard stays the only arbiter: a spend sent again is the same guarded UPDATE, and one a node already
   * won is refused by its guard like any other replay.
   */
  private async execute(batch: Pending[], kind: Kind): Promise<void> {
    const settle = (pending: Pending[], e: unknown) => {
      for (const p of pending) p.reject(e);
    };
    const bounded = this.lockBounded;
    if (!bounded) return this.spend(batch, kind, this.run).catch((e) => settle(batch, e));
    try {
      return await this.spend(batch, kind, bounded);
    } catch (e) {
      if (postgresSqlstate(e) !== LOCK_NOT_AVAILABLE) return settle(batch, e);
    }
    const held = batch.length > 1 ? await this.heldAlone(batch, kind, bounded) : batch;
    held.sort(byTokenId);
    if (held.length) await this.spend(held, kind, this.run).catch((e) => settle(held, e));
  }

  /**
   * Sends each spend of `batch` alone on `bounded`, ALONE_AT_ONCE at a time: the free ones are decided; returns those
   * held (their lock wait ran out again), and, once MAX_HELD_ALONE were, the ones not tried yet.
   */
  private async heldAlone(batch: Pending[], kind: Kind, bounded: StatementRunner): Promise<Pending[]> {
    const untried = [...batch];
    const held: Pending[] = [];
    let found = 0;
    const worker = async () => {
      for (let p = untried.shift(); p; p = untried.shift()) {
        if (found >= MAX_HELD_ALONE) {
          held.push(p);
          continue;
        }
        try {
          await this.spend([p], kind, bounded);
        } catch (e) {
          if (postgresSqlstate(e) !== LOCK_NOT_AVAILABLE) p.reject(e);
          else {
            found++;
            held.push(p);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: ALONE_AT_ONCE }, worker));
    return held;
  }

  /** One guarded UPDATE for `batch` (ids ascending) on `run`, sent again after a deadlock; resolves its spends, or throws. */
  private async spend(batch: Pending[], kind: Kind, run: StatementRunner): Promise<void> {
    const ids = batch.map((p) => String(p.id));
    const values = batch.map((p) => String(p.value));
    const spentBy = arrayLiteral(batch.map((p) => p.spentBy ?? 'NULL'));
    const owners = arrayLiteral(batch.map((p) => (p.owner === null ? 'NULL' : String(p.owner))));
    const tokenLogins = arrayLiteral(batch.map((p) => (p.tokenLogin ? 't' : 'f')));
    const params =
      kind === 'step'
        ? [arrayLiteral(ids), arrayLiteral(values), arrayLiteral(batch.map((p) => String(p.drift))), spentBy, owners, tokenLogins]
        : [arrayLiteral(ids), arrayLiteral(values), spentBy, owners, tokenLogins];
    for (let attempt = 1; ; attempt++) {
      try {
        const rows = await run<{ ids: string | null }>(kind === 'step' ? SPEND_STEP : SPEND_COUNTER, params);
        const won = new Set(rows[0]?.ids?.split(',') ?? []);
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(won.has(ids[i]!));
        return;
      } catch (e) {
        if (postgresSqlstate(e) === DEADLOCK && attempt < MAX_ATTEMPTS) continue;
        throw e;
      }
    }
  }
}
