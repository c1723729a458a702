/**
 * Duplicate detection for retransmitted requests (RFC 5080 §2.2.2).
 *
 * RFC 2865 §3 (Identifier): "The RADIUS server can detect a duplicate request if it has the same
 * client source IP address and source UDP port and Identifier within a short span of time."
 * RFC 5080 §2.2.2 adds the Request Authenticator to that key (Identifiers wrap after 256 requests)
 * and asks that a duplicate be answered with the response already sent instead of being processed
 * again. A copy that arrives while the original is still being processed is dropped: the answer
 * to the original will serve both.
 * Answering from here matters for OTPs: processing a retransmission again would burn the code
 * and turn the NAS's retry of a successful login into a Reject.
 *
 * Memory is bounded twice: entries expire `windowMs` after they were last touched, and at most
 * `maxEntries` are kept (the oldest is evicted first). Entries are found through a Map and aged
 * through a FIFO of (entry, time) records: completing an entry appends a fresh record, and records
 * that no longer describe their entry's last touch are skipped when they reach the head. Every
 * operation is O(1) amortised. (Deleting from the head of a V8 Map and inserting at its tail, as an
 * earlier version did, is not: the deleted slots stay in the table until it is rebuilt, and finding
 * the oldest entry walked all of them: 22 µs per request once the cache was full.)
 */
import type { DropReason } from './types';

export const DEFAULT_DUPLICATE_WINDOW_MS = 30_000;
export const DEFAULT_DUPLICATE_MAX_ENTRIES = 65_536;

export interface DuplicateCacheOptions {
  /** How long a finished request is remembered (default 30 s, matching common NAS retry spans). */
  readonly windowMs?: number;
  readonly maxEntries?: number;
  /** Monotonic milliseconds; injectable for tests. */
  readonly now?: () => number;
}

/** What an earlier copy of this request led to. */
export type DuplicateState =
  | { readonly state: 'in_progress' }
  | { readonly state: 'replied'; readonly reply: Buffer }
  | { readonly state: 'dropped'; readonly reason: DropReason };

/** Handed out by `begin`; completing a ticket whose entry was evicted meanwhile is a harmless no-op. */
export interface DuplicateTicket {
  readonly key: string;
}

interface Entry extends DuplicateTicket {
  /** When the entry was last touched (began, completed). */
  at: number;
  outcome: DuplicateState;
}

/** An entry as of one touch; stale once the entry is touched again or leaves the Map. */
interface AgeRecord {
  readonly entry: Entry;
  readonly at: number;
}

const IN_PROGRESS: DuplicateState = Object.freeze({ state: 'in_progress' });

/** Source address, source port, Identifier, Request Authenticator (RFC 5080 §2.2.2). */
export function duplicateKey(address: string, port: number, identifier: number, authenticator: Buffer): string {
  // latin1 maps each byte to one char, so the 16 authenticator bytes stay distinct and cheap to hash.
  return address + '|' + port + '|' + identifier + '|' + authenticator.toString('latin1');
}

export class DuplicateCache {
  readonly #entries = new Map<string, Entry>();
  /** Oldest first; `#head` is the next record to look at (the array is compacted as the head advances). */
  #ages: AgeRecord[] = [];
  #head = 0;
  readonly #windowMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(opts: DuplicateCacheOptions = {}) {
    this.#windowMs = opts.windowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
    this.#maxEntries = opts.maxEntries ?? DEFAULT_DUPLICATE_MAX_ENTRIES;
    if (!(this.#windowMs >= 0)) throw new Error('duplicate cache window must be >= 0 ms');
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 1) throw new Error('duplicate cache needs maxEntries >= 1');
    this.#now = opts.now ?? performanceNow;
  }

  get size(): number {
    return this.#entries.size;
  }

  lookup(key: string): DuplicateState | undefined {
    this.#expire(this.#now());
    return this.#entries.get(key)?.outcome;
  }

  begin(key: string): DuplicateTicket {
    const now = this.#now();
    this.#expire(now);
    this.#entries.delete(key);
    while (this.#entries.size >= this.#maxEntries) this.#evictOldest();
    const entry: Entry = { key, at: now, outcome: IN_PROGRESS };
    this.#entries.set(key, entry);
    this.#ages.push({ entry, at: now });
    return entry;
  }

  complete(ticket: DuplicateTicket, reply: Buffer): void {
    this.#finish(ticket, { state: 'replied', reply });
  }

  completeDropped(ticket: DuplicateTicket, reason: DropReason): void {
    this.#finish(ticket, { state: 'dropped', reason });
  }

  forget(ticket: DuplicateTicket): void {
    if (this.#entries.get(ticket.key) === ticket) this.#entries.delete(ticket.key);
  }

  clear(): void {
    this.#entries.clear();
    this.#ages = [];
    this.#head = 0;
  }

  #finish(ticket: DuplicateTicket, outcome: DuplicateState): void {
    const entry = this.#entries.get(ticket.key);
    if (entry !== ticket) return; // evicted (or superseded) while the handler ran
    // the window counts from the answer
    entry.at = this.#now();
    entry.outcome = outcome;
    this.#ages.push({ entry, at: entry.at });
  }

  /** Whether `record` still describes its entry: the entry is in the Map and was not touched since. */
  #live(record: AgeRecord): boolean {
    return record.entry.at === record.at && this.#entries.get(record.entry.key) === record.entry;
  }

  /** Records are appended in time order (the clock is monotonic), so expiry only looks at the head. */
  #expire(now: number): void {
    const cutoff = now - this.#windowMs;
    const ages = this.#ages;
    while (this.#head < ages.length) {
      const record = ages[this.#head]!;
      if (this.#live(record)) {
        if (record.at > cutoff) break;
        this.#entries.delete(record.entry.key);
      }
      this.#head++;
    }
    this.#compact();
  }

  #evictOldest(): void {
    const ages = this.#ages;
    while (this.#head < ages.length) {
      const record = ages[this.#head++]!;
      if (this.#live(record)) {
        this.#entries.delete(record.entry.key);
        break;
      }
    }
    this.#compact();
  }

  /** Drops the records already passed once they are half the array, so it never grows beyond twice the live ones. */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#ages.length) {
      this.#ages = this.#ages.slice(this.#head);
      this.#head = 0;
    }
  }
}

function performanceNow(): number {
  return performance.now();
}
