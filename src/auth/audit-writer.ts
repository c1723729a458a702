import type { AuditEvent } from '../store/audit';

/**
 * Writes audit events to PostgreSQL in batches, off the request path. While the database is away the
 * events wait in memory (bounded) and are written when it returns; `close()` flushes what is left.
 */
export class AuditWriter {
  private queue: AuditEvent[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private closed = false;

  constructor(
    private readonly insertMany: (events: readonly AuditEvent[]) => Promise<void>,
    private readonly opts: {
      batchSize?: number;
      intervalMs?: number;
      maxBacklog?: number;
      onError?: (e: unknown, backlog: number) => void;
      /** An event was discarded because the backlog was full (the database has been away a long time). */
      onDropped?: () => void;
    } = {},
  ) {}

  write(event: AuditEvent): void {
    const max = this.opts.maxBacklog ?? 100_000;
    if (this.queue.length >= max) {
      this.queue.shift();
      this.opts.onDropped?.();
    }
    this.queue.push(event);
    if (this.queue.length >= (this.opts.batchSize ?? 500)) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.opts.intervalMs ?? 50);
  }

  /** Writes everything queued so far; resolves when done (or when the database refused; events are kept). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.opts.batchSize ?? 500);
      try {
        await this.insertMany(batch);
      } catch (e) {
        this.opts.onError?.(e, this.queue.length);
        // Keep the events and retry later; a database outage must not lose the trail.
        if (!this.closed) this.timer ??= setTimeout(() => void this.flush(), 1000);
        return;
      }
      this.queue.splice(0, batch.length);
    }
  }

  get backlog(): number {
    return this.queue.length;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
