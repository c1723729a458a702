import type { Awaitable } from '../lang/awaitable';

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
 * A user with no login in progress costs a map lookup and an insert; a legitimate user never has two at once
 * on one node (a NAS's retransmission is answered by the duplicate cache, RFC 5080 §2.2.2), so the queue is
 * an attacker's, and is bounded: beyond `maxWaiting` a login is refused unchecked (`busy`), neither counted
 * toward the lock nor able to succeed, and it holds no memory of ours.
 *
 * Across nodes each has at most one login per user in progress, so with N nodes at most N - 1 guesses more
 * than auth.lockout.maxFailures are checked before the lock (README, "Lockout").
 */
export class OneLoginPerUser<K> {
  /** Users with a login in progress: the logins waiting behind it (null: none waiting). */
  private readonly inProgress = new Map<K, Array<() => void> | null>();

  constructor(private readonly maxWaiting: number) {}

  /** Logins of how many users are in progress now (for tests and metrics). */
  get size(): number {
    return this.inProgress.size;
  }

  /** `decide` now when no login of `key` is in progress, else after the ones before it; `busy()` when too many wait. */
  run<T>(key: K, decide: () => Awaitable<T>, busy: () => T): Awaitable<T> {
    if (!this.inProgress.has(key)) {
      this.inProgress.set(key, null);
      return this.begin(key, decide);
    }
    let waiting = this.inProgress.get(key);
    if (!waiting) this.inProgress.set(key, (waiting = []));
    if (waiting.length >= this.maxWaiting) return busy();
    return new Promise<T>((resolve, reject) => {
      waiting.push(() => {
        try {
          Promise.resolve(this.begin(key, decide)).then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Runs `decide` as the key's login in progress; the next waiting one starts once it settled. */
  private begin<T>(key: K, decide: () => Awaitable<T>): Awaitable<T> {
    let decision: Awaitable<T>;
    try {
      decision = decide();
    } catch (e) {
      this.next(key);
      throw e;
    }
    if (!(decision instanceof Promise)) {
      this.next(key);
      return decision;
    }
    return decision.finally(() => this.next(key));
  }

  private next(key: K): void {
    const waiting = this.inProgress.get(key);
    const following = waiting?.shift();
    if (following) following();
    else this.inProgress.delete(key);
  }
}
