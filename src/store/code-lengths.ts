import type { ChangeEvent } from './change-listener';

/**
 * The deployment's code lengths in use (TokenRepository.codeLengthsInUse), kept in memory for the append
 * style's price of a wrong login (see src/auth/append-split.ts). Read again shortly after any token
 * change from any node or CLI (ChangeListener), and whenever the notifications come back after a loss.
 * A list a moment old costs only timing uniformity, never a decision: a login splits the field at its
 * own tokens' lengths whatever this says, and a user without a token at the lengths read for that login
 * (TokenMethodSettings.codeLengthsNow).
 */
export class CodeLengthsInUse {
  private lengths: readonly number[] = [];
  private timer?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private readAgain = false;
  private stopped = false;
  /** A failed read was logged; the next ones stay quiet until one succeeds (an outage retries every second). */
  private failing = false;

  constructor(
    private readonly read: () => Promise<number[]>,
    private readonly log?: { warn(o: object, m: string): void; info(o: object, m: string): void },
    /** Token changes come in bursts (an import, a lockout wave): one read for the burst. */
    private readonly settleMs = 1000,
  ) {}

  current(): readonly number[] {
    return this.lengths;
  }

  onChange(e: ChangeEvent): void {
    if (e.kind === 'user' || e.kind === 'clients' || this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, this.settleMs);
    this.timer.unref();
  }

  /** Reads the lengths now; a change during a read is followed by one more read. Never rejects. */
  refresh(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = this.readOnce().finally(() => {
      this.reading = undefined;
      if (this.readAgain && !this.stopped) {
        this.readAgain = false;
        void this.refresh();
      }
    });
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    try {
      this.lengths = await this.read();
      // the warning's all-clear: without it the log left 'could not read' standing after every outage
      if (this.failing) this.log?.info({ lengths: this.lengths }, 'code lengths in use read again');
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.log?.warn({ err: (e as Error).message }, 'could not read the code lengths in use; keeping the previous list');
      this.failing = true;
    }
  }

  /** No more reads; resolves when the one in progress, if any, is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.reading;
  }
}
