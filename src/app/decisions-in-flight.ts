import type { RequestHandler } from '../radius/types';

/**
 * The handler's decisions still waiting (on the database, on a password hash), so that stopping waits for them
 * before the audit writer is closed. The RADIUS server gives requests in flight a grace period and then closes its
 * sockets; a decision made after that (a statement that outlives database.queryTimeout ends in `fail`) is still a
 * decision, and written to an audit writer already closed it was lost without a trace. Only a promise is counted:
 * a decision made at once was audited at once.
 */
export class DecisionsInFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  get pending(): number {
    return this.count;
  }

  /** `handler`, counting the replies it hands out as promises until they settle. */
  track<T>(handler: RequestHandler<T>): RequestHandler<T> {
    return (req) => {
      const reply = handler(req);
      if (reply instanceof Promise) {
        this.count++;
        // the server handles the rejection of `reply` itself; this derived promise must not add an unhandled one
        reply.then(this.done, this.done);
      }
      return reply;
    };
  }

  /** Resolves once none is in flight, or after `timeoutMs` (with how many still are). */
  settled(timeoutMs: number): Promise<number> {
    if (this.count === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.count), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(0);
      });
    });
  }

  private readonly done = (): void => {
    if (--this.count > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  };
}
