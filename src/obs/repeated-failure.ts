import { RateLimitedLog } from '../radius/rate-limited-log';

/** The two logger methods a RepeatedFailureLog writes with (a pino Logger has them). */
interface WarnInfo {
  warn(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
}

const FAILING = 'failing';

/**
 * Logs a job that retries on a timer (reloading the RADIUS clients, writing the audit trail) while something
 * it needs is away: a warning when it starts failing, then at most one line per interval while it keeps
 * failing (with how many failures went unlogged), and one line when it works again. A warning at every try
 * wrote a line a second per node through a database outage, burying what else the log had to say.
 * The interval and the unlogged count are RateLimitedLog's; a recovery starts a fresh one, so the next
 * outage is told at once.
 */
export class RepeatedFailureLog {
  private failingSince?: number;
  private failures = 0;
  private limit: RateLimitedLog;

  constructor(
    private readonly logger: WarnInfo,
    private readonly messages: { failing: string; recovered: string },
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.limit = this.freshLimit();
  }

  failed(fields: object): void {
    this.failures++;
    this.failingSince ??= this.now();
    const { log, suppressed } = this.limit.check(FAILING);
    if (log) this.logger.warn(suppressed > 0 ? { ...fields, unloggedRepeats: suppressed } : fields, this.messages.failing);
  }

  succeeded(fields: object = {}): void {
    if (this.failingSince === undefined) return;
    this.logger.info({ ...fields, failures: this.failures, failingMs: this.now() - this.failingSince }, this.messages.recovered);
    this.failingSince = undefined;
    this.failures = 0;
    this.limit = this.freshLimit();
  }

  private freshLimit(): RateLimitedLog {
    return new RateLimitedLog({ perKeyIntervalMs: this.intervalMs, now: this.now });
  }
}
