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
 * `maxEntries` are kept (the oldest is evicted first). A Map keeps insertion order, and an entry
 * is re-inserted when it completes, so the Map is always ordered by timestamp: expiry only ever
 * looks at the head, and every operation is O(1) amortised.
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
  at: number;
  outcome: DuplicateState;
}

const IN_PROGRESS: DuplicateState = Object.freeze({ state: 'in_progress' });

/** Source address, source port, Identifier, Request Authenticator (RFC 5080 §2.2.2). */
export function duplicateKey(address: string, port: number, identifier: number, authenticator: Buffer): string {
  // latin1 maps each byte to one char, so the 16 authenticator bytes stay distinct and cheap to hash.
  return address + '|' + port + '|' + identifier + '|' + authenticator.toString('latin1');
}

export class DuplicateCache {
  readonly #entries = new Map<string, Entry>();
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

  /** What happened to an earlier copy of this request within the window, or undefined if none. */
  lookup(key: string): DuplicateState | undefined {
    this.#expire(this.#now());
    return this.#entries.get(key)?.outcome;
  }

  /** Marks the request as being processed; a copy arriving now is reported 'in_progress'. */
  begin(key: string): DuplicateTicket {
    const now = this.#now();
    this.#expire(now);
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) this.#evictOldest();
    const entry: Entry = { key, at: now, outcome: IN_PROGRESS };
    this.#entries.set(key, entry);
    return entry;
  }

  /** Remembers the exact bytes sent, so a retransmission gets a byte-identical answer. */
  complete(ticket: DuplicateTicket, reply: Buffer): void {
    this.#finish(ticket, { state: 'replied', reply });
  }

  /** Remembers that the request was deliberately not answered, so copies are dropped the same way. */
  completeDropped(ticket: DuplicateTicket, reason: DropReason): void {
    this.#finish(ticket, { state: 'dropped', reason });
  }

  /** Forgets the request, so a retransmission is processed afresh (e.g. the database was down). */
  forget(ticket: DuplicateTicket): void {
    if (this.#entries.get(ticket.key) === ticket) this.#entries.delete(ticket.key);
  }

  clear(): void {
    this.#entries.clear();
  }

  #finish(ticket: DuplicateTicket, outcome: DuplicateState): void {
    const entry = this.#entries.get(ticket.key);
    if (entry !== ticket) return; // evicted (or superseded) while the handler ran
    // Re-insert so the window counts from the answer, and the Map stays ordered by timestamp.
    this.#entries.delete(entry.key);
    entry.at = this.#now();
    entry.outcome = outcome;
    this.#entries.set(entry.key, entry);
  }

  #expire(now: number): void {
    const cutoff = now - this.#windowMs;
    for (const entry of this.#entries.values()) {
      if (entry.at > cutoff) return;
      this.#entries.delete(entry.key);
    }
  }

  #evictOldest(): void {
    const oldest = this.#entries.keys().next();
    if (!oldest.done) this.#entries.delete(oldest.value);
  }
}

function performanceNow(): number {
  return performance.now();
}
