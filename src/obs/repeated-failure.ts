/** The two logger methods a RepeatedFailureLog writes with (a pino Logger has them). */
interface WarnInfo {
  warn(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
}

/**
 * Logs a job that retries on a timer (reloading the RADIUS clients, writing the audit trail) while something
 * it needs is away: a warning when it starts failing, then at most one line per interval while it keeps
 * failing (with how many failures went unlogged), and one line when it works again. A warning at every try
 * wrote a line a second per node through a database outage, burying what else the log had to say.
 */
export class RepeatedFailureLog {
  private failingSince?: number;
  private lastLoggedAt = 0;
  private failures = 0;
  private unlogged = 0;

  constructor(
    private readonly logger: WarnInfo,
    private readonly messages: { failing: string; recovered: string },
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  failed(fields: object): void {
    const now = this.now();
    this.failures++;
    if (this.failingSince !== undefined && now - this.lastLoggedAt < this.intervalMs) {
      this.unlogged++;
      return;
    }
    this.failingSince ??= now;
    this.logger.warn(this.unlogged > 0 ? { ...fields, unloggedRepeats: this.unlogged } : fields, this.messages.failing);
    this.lastLoggedAt = now;
    this.unlogged = 0;
  }

  succeeded(fields: object = {}): void {
    if (this.failingSince === undefined) return;
    this.logger.info({ ...fields, failures: this.failures, failingMs: this.now() - this.failingSince }, this.messages.recovered);
    this.failingSince = undefined;
    this.failures = 0;
    this.unlogged = 0;
  }
}
