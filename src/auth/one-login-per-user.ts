import type { Awaitable } from '../lang/awaitable';
import { IdTable } from '../lang/id-table';

/**
 * One login per user decided at a time on this node; the others wait their turn, a few at most.
 *
 * WHY: auth.lockout counts consecutive wrong codes (per token) and passwords (per user) in PostgreSQL, and a
 * guess is checked against the lock as it was when the guess was read. Guesses sent together (a burst of 200
 * wrong codes, measured in test/e2e/lockout-burst.test.ts) were each checked before the failure that locked
 * was committed: 194 codes checked against maxFailures 10, and a right code at the 61st place accepted. A
 * login waiting here starts only once the one before it for the same user has committed its spend or its
 * failure, so it sees the lock that failure set. Different users never wait for each other, and a login
 * decided from memory alone (nothing waited for) takes no turn at all: the normal path gains no round trip.
 *
 * A user with no login in progress costs a table lookup and an insert (an IdTable: see there why not a Map); a
 * legitimate user never has two at once on one node (a NAS's retransmission is answered by the duplicate cache,
 * RFC 5080 §2.2.2), so the queue is an attacker's, and is bounded: beyond `maxWaiting` a login is refused
 * unchecked (`busy`), neither counted toward the lock nor able to succeed, and it holds no memory of ours.
 *
 * Across nodes each has at most one login per user in progress, so with N nodes at most N - 1 guesses more
 * than auth.lockout.maxFailures are checked before the lock (README, "Lockout").
 *
 * A turn is also bounded in time (TurnLimits): when the database is slow rather than down (another session's
 * open transaction holding the user's token row), the login in progress waits out database.queryTimeout, and
 * each one behind it waited out its own in turn: the 9th ended about 9 x the timeout after it came (90 s by
 * default), long after every NAS had given up. Those waiting are refused unstarted when the one ahead fails
 * held up, or when their turn comes too late; refused, none is checked or counted, so a lock stays as it was.
 */
export interface TurnLimits {
  /**
   * How long a login may wait for its turn: one whose turn comes later is refused ('waited too long'), unstarted.
   * WHY: a NAS waits 3-10 s for an answer and then retries at another server (RFC 2865 §2.4's retransmissions
   * go elsewhere once it gives up on this one): a login started after that decides for nobody, and its turn
   * holds up the ones behind it. Checked when its turn comes, not by a timer: the normal path gains nothing.
   */
  readonly maxWaitMs: number;
  /**
   * Whether the failure of the login in progress held up the ones behind it too (the database: a lock on the
   * user's row, a stalled disk, an exhausted pool): each would wait out the same, one after another. They are
   * all refused at once ('held up ahead'), unstarted; the next login of the user starts afresh and tries again.
   */
  readonly heldUp: (e: unknown) => boolean;
  /** Monotonic milliseconds; injectable for tests. */
  readonly now?: () => number;
}

/** Why a login was refused unstarted: too many waiting already, its turn came too late, or the one ahead was held up. */
export type TurnRefusal = 'busy' | 'waited too long' | 'held up ahead';

/** A login waiting for its turn: since when, and how to start it or refuse it. */
interface Waiting {
  readonly since: number;
  readonly start: () => void;
  readonly refuse: (why: TurnRefusal) => void;
}

const NO_LIMITS: TurnLimits = { maxWaitMs: Infinity, heldUp: () => false };

/** Keyed by user id. */
export class OneLoginPerUser {
  /** Users with a login in progress: the logins waiting behind it (null: none waiting). */
  private readonly inProgress = new IdTable<Waiting[] | null>();
  private readonly now: () => number;

  constructor(
    private readonly maxWaiting: number,
    private readonly limits: TurnLimits = NO_LIMITS,
  ) {
    this.now = limits.now ?? (() => performance.now());
  }

  /** Logins of how many users are in progress now (for tests and metrics). */
  get size(): number {
    return this.inProgress.size;
  }

  /**
   * `decide` now when no login of `key` is in progress, else after the ones before it; `refused(why)`, unstarted,
   * when too many wait, when its turn comes too late, or when the one ahead was held up (see TurnLimits).
   */
  run<T>(key: bigint, decide: () => Awaitable<T>, refused: (why: TurnRefusal) => T): Awaitable<T> {
    if (!this.inProgress.has(key)) {
      this.inProgress.set(key, null);
      return this.begin(key, decide);
    }
    let waiting = this.inProgress.get(key);
    if (!waiting) this.inProgress.set(key, (waiting = []));
    if (waiting.length >= this.maxWaiting) return refused('busy');
    const since = this.limits.maxWaitMs === Infinity ? 0 : this.now();
    return new Promise<T>((resolve, reject) => {
      waiting.push({
        since,
        start: () => {
          try {
            Promise.resolve(this.begin(key, decide)).then(resolve, reject);
          } catch (e) {
            reject(e);
          }
        },
        refuse: (why) => {
          try {
            resolve(refused(why));
          } catch (e) {
            reject(e);
          }
        },
      });
    });
  }

  /** Runs `decide` as the key's login in progress; the next waiting one starts once it settled. */
  private begin<T>(key: bigint, decide: () => Awaitable<T>): Awaitable<T> {
    let decision: Awaitable<T>;
    try {
      decision = decide();
    } catch (e) {
      this.next(key, this.limits.heldUp(e));
      throw e;
    }
    if (!(decision instanceof Promise)) {
      this.next(key, false);
      return decision;
    }
    return decision.then(
      (value) => {
        this.next(key, false);
        return value;
      },
      (e: unknown) => {
        this.next(key, this.limits.heldUp(e));
        throw e;
      },
    );
  }

  /** Hands the turn on: to the first waiting login whose turn is not too late, unless the one ended was held up. */
  private next(key: bigint, heldUp: boolean): void {
    const waiting = this.inProgress.get(key);
    if (heldUp) {
      this.inProgress.delete(key);
      for (const w of waiting ?? []) w.refuse('held up ahead');
      return;
    }
    const now = waiting && waiting.length > 0 && this.limits.maxWaitMs !== Infinity ? this.now() : 0;
    for (let following = waiting?.shift(); following; following = waiting!.shift()) {
      if (now - following.since > this.limits.maxWaitMs) {
        following.refuse('waited too long');
        continue;
      }
      following.start();
      return;
    }
    this.inProgress.delete(key);
  }
}
