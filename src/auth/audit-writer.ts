import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../store/audit';

/** A batch of events already serialized for the database, waiting to be written. */
interface SealedBatch {
  /** Sent with every attempt, so the database inserts the batch once even if an attempt's answer is lost. */
  readonly id: string;
  readonly json: string;
  readonly count: number;
}

/**
 * Writes audit events to PostgreSQL in batches, off the request path. While the database is away the
 * events wait in memory (bounded) and are written when it returns; `close()` flushes what is left.
 *
 * A batch is turned into its JSON text when it is flushed, and only the text waits for the insert
 * (and its retries). The event objects die young that way: a batch waiting for its insert across two
 * scavenges used to be promoted to the old generation, some thousands of small objects each time,
 * copied twice on the way and adding most of each young-generation pause.
 */
export class AuditWriter {
  private queue: AuditEvent[] = [];
  private sealed: SealedBatch[] = [];
  private sealedCount = 0;
  /** The batch whose insert is on its way (drain awaits it). */
  private sending?: SealedBatch;
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private closed = false;

  constructor(
    /** Inserts one batch given as the JSON text of an array of events, once per batch id (see SealedBatch.id). */
    private readonly insertJson: (eventsJson: string, batchId: string) => Promise<void>,
    private readonly opts: {
      batchSize?: number;
      intervalMs?: number;
      maxBacklog?: number;
      onError?: (e: unknown, backlog: number) => void;
      /** A batch was inserted (after onError: the database is back). */
      onWritten?: () => void;
      /** An event was discarded because the backlog was full (the database has been away a long time). */
      onDropped?: () => void;
    } = {},
  ) {}

  write(event: AuditEvent): void {
    this.makeRoom();
    this.queue.push(event);
    if (this.queue.length >= this.batchSize) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.opts.intervalMs ?? 50);
  }

  /** Writes everything queued so far; resolves when done (or when the database refused; events are kept). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.seal();
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private get batchSize(): number {
    return this.opts.batchSize ?? 500;
  }

  /** The queued events become JSON batches of at most batchSize events, in order. */
  private seal(): void {
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
    for (let i = 0; i < queue.length; i += this.batchSize) {
      const batch = queue.slice(i, i + this.batchSize);
      this.sealed.push({ id: randomUUID(), json: JSON.stringify(batch), count: batch.length });
      this.sealedCount += batch.length;
    }
  }

  private async drain(): Promise<void> {
    for (;;) {
      this.seal(); // events written while the previous batch was being inserted
      const batch = this.sealed[0];
      if (batch === undefined) return;
      this.sending = batch;
      try {
        await this.insertJson(batch.json, batch.id);
      } catch (e) {
        this.sending = undefined;
        this.opts.onError?.(e, this.backlog);
        // Keep the events and retry later; a database outage must not lose the trail.
        if (!this.closed) this.timer ??= setTimeout(() => void this.flush(), 1000);
        return;
      }
      this.sending = undefined;
      this.opts.onWritten?.();
      // the batch may have been dropped meanwhile to make room (see makeRoom)
      if (this.sealed[0] === batch) {
        this.sealed.shift();
        this.sealedCount -= batch.count;
      }
    }
  }

  /**
   * At most maxBacklog events are kept: beyond that the oldest go, a whole written-out batch at a time
   * once the unsealed events are few (the database has been away for a long time by then). Not the batch
   * whose insert is on its way: it may still land, and counting it dropped would report lost what is in the
   * trail (the whole batch, as the database came back).
   */
  private makeRoom(): void {
    const max = this.opts.maxBacklog ?? 100_000;
    while (this.backlog >= max) {
      const at = this.sealed[0] !== undefined && this.sealed[0] === this.sending ? 1 : 0;
      const oldest = this.sealed[at];
      if (oldest !== undefined) {
        this.sealed.splice(at, 1);
        this.sealedCount -= oldest.count;
        for (let i = 0; i < oldest.count; i++) this.opts.onDropped?.();
      } else if (this.queue.length > 0) {
        this.queue.shift();
        this.opts.onDropped?.();
      } else return; // only the batch on its way is left: it is bounded by batchSize
    }
  }

  get backlog(): number {
    return this.queue.length + this.sealedCount;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
