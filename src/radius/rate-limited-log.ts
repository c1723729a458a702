/**
 * Decides whether a log line about an untrusted source may be written now.
 *
 * Anyone can send datagrams from any (spoofed) address, so "one line per bad packet" would let an
 * attacker fill the disk. Lines are limited per key (e.g. source address) and globally, and the
 * number of suppressed events is handed to the next line that does get written.
 */
import { evictOldest } from '../collections/evict-oldest';
export interface RateLimitedLogOptions {
  /** At most one line per key per this interval (default 60 s). */
  readonly perKeyIntervalMs?: number;
  /** At most this many lines in total per interval (default 20). */
  readonly globalLinesPerInterval?: number;
  /** How many keys are remembered (oldest forgotten first; default 10 000). */
  readonly maxKeys?: number;
  /** Monotonic milliseconds; injectable for tests. */
  readonly now?: () => number;
}

/** `log` false: stay quiet. `log` true: write one line and mention `suppressed` earlier events. */
export interface LogDecision {
  readonly log: boolean;
  readonly suppressed: number;
}

interface KeyState {
  lastLoggedAt: number;
  suppressed: number;
}

const QUIET: LogDecision = Object.freeze({ log: false, suppressed: 0 });

export class RateLimitedLog {
  readonly #intervalMs: number;
  readonly #globalLimit: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, KeyState>();
  #windowStart = -Infinity;
  #linesInWindow = 0;

  constructor(opts: RateLimitedLogOptions = {}) {
    this.#intervalMs = opts.perKeyIntervalMs ?? 60_000;
    this.#globalLimit = opts.globalLinesPerInterval ?? 20;
    this.#maxKeys = Math.max(1, opts.maxKeys ?? 10_000);
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Call once per event; write a line only when `log` is true. */
  check(key: string): LogDecision {
    const now = this.#now();
    const state = this.#keys.get(key);
    const keyAllows = state === undefined || now - state.lastLoggedAt >= this.#intervalMs;
    if (now - this.#windowStart >= this.#intervalMs) {
      this.#windowStart = now;
      this.#linesInWindow = 0;
    }
    if (!keyAllows || this.#linesInWindow >= this.#globalLimit) {
      if (state !== undefined) state.suppressed++;
      else this.#remember(key, { lastLoggedAt: -Infinity, suppressed: 1 });
      return QUIET;
    }
    this.#linesInWindow++;
    const suppressed = state?.suppressed ?? 0;
    if (state !== undefined) {
      state.lastLoggedAt = now;
      state.suppressed = 0;
    } else {
      this.#remember(key, { lastLoggedAt: now, suppressed: 0 });
    }
    return { log: true, suppressed };
  }

  #remember(key: string, state: KeyState): void {
    evictOldest(this.#keys, this.#maxKeys);
    this.#keys.set(key, state);
  }
}
