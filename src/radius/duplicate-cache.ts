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
 * `maxEntries` are kept (the oldest is evicted first). Entries are found through an index from key to slot
 * (SlotKeys, slot-keys.ts: typed arrays, with each key's octets in its slot's cell) and aged through a ring of
 * slots in last-touch order: beginning an entry takes the next slot, answering it moves it to the next slot
 * again (the window counts from the answer) and leaves a hole behind. Expiry and eviction pop the oldest
 * slots, skipping holes. Every operation is O(1) amortised.
 * The ring is parallel arrays rather than objects: at tens of thousands of requests a second these
 * entries are most of what the server keeps beyond a few milliseconds, and every object kept is copied
 * by the garbage collector before it is promoted (measured under load, a server with no duplicate
 * cache at all spent about 3 µs less CPU per request; an earlier version kept three objects per
 * request, the next one its key as a string, and this one no object at all once the request is answered).
 * A reply of up to INLINE_REPLY_BYTES octets, which is most of them (an Access-Accept or -Reject with a
 * Message-Authenticator and a short Reply-Message), is copied into a slab of fixed-size cells, one per slot,
 * rather than kept as a Buffer object of its own; a retransmission gets a copy back. The ring holds at most
 * 2 x maxEntries slots, so under churn (entries forgotten, re-begun) it also keeps at least the entries of
 * the last maxEntries requests. It starts at that full size, up to PREALLOCATED_SLOTS, and only a larger
 * configuration grows it (by doubling) beyond that.
 *
 * Replies kept as Buffers (over INLINE_REPLY_BYTES) are bounded in octets too, by `maxReplyBytes`: the
 * count alone let a client (one without Message-Authenticator, or anyone with the secret) fill the cache
 * with replies of ~3.9 KB by sending ~3.8 KB of Proxy-State (RFC 2865 §5.33: echoed unmodified), about
 * 400 MB at the default 100,000 entries. Past the budget the oldest entries are evicted, as for the count.
 */
import { keyHash, SlotKeys } from './slot-keys';
import type { DropReason } from './types';

export const DEFAULT_DUPLICATE_WINDOW_MS = 30_000;
export const DEFAULT_DUPLICATE_MAX_ENTRIES = 65_536;
/**
 * 64 MiB of replies kept as Buffers. Normal replies are either inline (an Accept or Reject, not counted)
 * or an Access-Challenge with a State and a prompt, well under 671 octets: 64 MiB holds 100,000 of those
 * (radius.duplicateCacheSize's default), so normal traffic meets the count bound first and every
 * retransmission window stays whole. Only replies swollen by echoed Proxy-State reach it: it keeps about
 * 17,000 of 3.9 KB, where the count alone let 100,000 take ~400 MB.
 */
export const DEFAULT_DUPLICATE_MAX_REPLY_BYTES = 64 * 1024 * 1024;

export interface DuplicateCacheOptions {
  /** How long a finished request is remembered (default 30 s, matching common NAS retry spans). */
  readonly windowMs?: number;
  readonly maxEntries?: number;
  /** Octets of replies kept as Buffers (over INLINE_REPLY_BYTES) at most; default DEFAULT_DUPLICATE_MAX_REPLY_BYTES. */
  readonly maxReplyBytes?: number;
  /** Monotonic milliseconds; injectable for tests. */
  readonly now?: () => number;
  /** Slots to allocate at the start (default: all of them, up to PREALLOCATED_SLOTS); tests start small to see the ring grow. */
  readonly initialSlots?: number;
}

/** What an earlier copy of this request led to. */
export type DuplicateState =
  | { readonly state: 'in_progress' }
  | { readonly state: 'replied'; readonly reply: Buffer }
  | { readonly state: 'dropped'; readonly reason: DropReason };

/** Handed out by `begin`; completing a ticket whose entry was evicted meanwhile is a harmless no-op. */
export interface DuplicateTicket {
  readonly key: string;
  /** Tells this request's entry from a later one under the same key. */
  readonly id: number;
}

const IN_PROGRESS: DuplicateState = Object.freeze({ state: 'in_progress' });

/** What a slot holds. */
const HOLE = 0;
const BUSY = 1;
const REPLIED = 2;
const DROPPED = 3;

/**
 * Slots allocated at the start, unless the cache needs fewer: 2 x 131,072 entries, so the default
 * configuration (100,000) never grows. Growing copies every live entry to a new ring and re-points its
 * key in the Map, all in one turn of the event loop: under benchmark load the last two doublings stalled
 * the server for 48 ms and 72 ms. Allocating up front costs little that is not used anyway: the typed
 * arrays are zero pages until written (the slab is 64 octets a slot), the two plain arrays 8 octets a slot.
 */
const PREALLOCATED_SLOTS = 262_144;
/** Replies up to this size are kept in the slab (64 octets a slot: 12.8 MB at the default 200,000 slots). */
const INLINE_REPLY_BYTES = 64;

/**
 * `reply` in octets of its own. Replies under 4 KiB are slices of Node's shared 8 KiB allocation pool
 * (Buffer.allocUnsafe): kept as they are, each would hold its whole pool block for the window, and the memory
 * held would be up to 8 KiB a reply where maxReplyBytes counts its length. Copied once: an entry moved to a new
 * slot (answered again, the ring grown) is its own already.
 */
function ownOctets(reply: Buffer): Buffer {
  if (reply.buffer.byteLength === reply.length) return reply;
  const own = Buffer.allocUnsafeSlow(reply.length);
  reply.copy(own);
  return own;
}

/** Identifier (1 octet), source port (2), Request Authenticator (16): the key's fixed-width head; the address follows. */
const KEY_HEAD = 19;
let keyScratch = Buffer.allocUnsafeSlow(KEY_HEAD + 64);

/**
 * Source address, source port, Identifier, Request Authenticator (RFC 5080 §2.2.2), as one string: the octets
 * identifier, port, authenticator, then the address's UTF-8, read back as latin1 (one char per octet). The three
 * fixed-width fields come first, so no two requests share a key (the address, last, is the only field of variable
 * length). WHY built in octets: it is one flat string of 19 + address-length chars, which the cache copies into a
 * cell of its slot (see SlotKeys) and which dies with its request. Built by concatenation (`address + '|' + port
 * + …`) it was a tree of five ConsStrings, about 200 bytes, and the cache kept it for the window (30 s): 86 % of
 * what the server promoted to the old generation under load (V8's sampling heap profiler).
 */
export function duplicateKey(address: string, port: number, identifier: number, authenticator: Buffer): string {
  const needed = KEY_HEAD + Buffer.byteLength(address, 'utf8');
  if (needed > keyScratch.length) keyScratch = Buffer.allocUnsafeSlow(needed);
  const b = keyScratch;
  b[0] = identifier;
  b[1] = port >>> 8;
  b[2] = port & 0xff;
  authenticator.copy(b, 3, 0, 16);
  b.write(address, KEY_HEAD, 'utf8');
  return b.toString('latin1', 0, needed);
}

export class DuplicateCache {
  /** Each entry's key, by slot, and the index from a key to its slot (see slot-keys.ts). */
  #keys: SlotKeys;
  // The ring: slot i holds one entry (or a hole). #tail is the oldest slot, #used slots follow it.
  #ids = new Float64Array(0);
  #at = new Float64Array(0);
  #kind = new Uint8Array(0);
  /** The reply (REPLIED, unless inline) or the drop reason (DROPPED). */
  #payload: (Buffer | DropReason | undefined)[] = [];
  /** Slot i's reply when it is inline: `#inline[i * INLINE_REPLY_BYTES ..]`, `#inlineLength[i]` octets (0: not inline). */
  #inline = new Uint8Array(0);
  #inlineLength = new Uint8Array(0);
  #tail = 0;
  #used = 0;
  #lastId = 0;
  /** Octets of the replies kept as Buffers (REPLIED slots that are not inline). */
  #replyBytes = 0;
  readonly #maxReplyBytes: number;
  readonly #windowMs: number;
  readonly #maxEntries: number;
  readonly #maxSlots: number;
  readonly #initialSlots: number;
  readonly #now: () => number;

  constructor(opts: DuplicateCacheOptions = {}) {
    this.#windowMs = opts.windowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
    this.#maxEntries = opts.maxEntries ?? DEFAULT_DUPLICATE_MAX_ENTRIES;
    if (!(this.#windowMs >= 0)) throw new Error('duplicate cache window must be >= 0 ms');
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 1) throw new Error('duplicate cache needs maxEntries >= 1');
    this.#maxReplyBytes = opts.maxReplyBytes ?? DEFAULT_DUPLICATE_MAX_REPLY_BYTES;
    if (!(this.#maxReplyBytes >= 0)) throw new Error('duplicate cache needs maxReplyBytes >= 0');
    this.#maxSlots = 2 * this.#maxEntries;
    this.#now = opts.now ?? performanceNow;
    this.#initialSlots = Math.max(1, Math.min(opts.initialSlots ?? PREALLOCATED_SLOTS, this.#maxSlots));
    this.#keys = new SlotKeys(0, this.#maxEntries);
    this.#resize(this.#initialSlots);
  }

  get size(): number {
    return this.#keys.size;
  }

  lookup(key: string): DuplicateState | undefined {
    this.#expire(this.#now());
    const slot = this.#keys.find(key);
    if (slot < 0) return undefined;
    switch (this.#kind[slot]) {
      case REPLIED:
        return { state: 'replied', reply: this.#replyIn(slot) };
      case DROPPED:
        return { state: 'dropped', reason: this.#payload[slot] as DropReason };
      default:
        return IN_PROGRESS;
    }
  }

  begin(key: string): DuplicateTicket {
    const now = this.#now();
    this.#expire(now);
    const hash = keyHash(key);
    const earlier = this.#keys.find(key, hash);
    if (earlier >= 0) this.#vacate(earlier);
    while (this.#keys.size >= this.#maxEntries) this.#evictOldest();
    const id = ++this.#lastId;
    this.#take(key, hash, id, now, BUSY, undefined);
    return { key, id };
  }

  complete(ticket: DuplicateTicket, reply: Buffer): void {
    this.#finish(ticket, REPLIED, reply);
  }

  /** Whether this ended the ticket's entry: false if it had ended already (replied, dropped, forgotten) or was evicted. */
  completeDropped(ticket: DuplicateTicket, reason: DropReason): boolean {
    return this.#finish(ticket, DROPPED, reason);
  }

  forget(ticket: DuplicateTicket): void {
    const slot = this.#keys.find(ticket.key);
    if (slot >= 0 && this.#ids[slot] === ticket.id) this.#vacate(slot);
  }

  clear(): void {
    // #resize rebuilds the key table from the live slots, none once #used is 0: it empties it too
    this.#used = 0;
    this.#replyBytes = 0;
    this.#resize(this.#initialSlots);
  }

  /** An entry ends once: a later outcome for the same ticket (a failure after the reply was kept) leaves it as it is. */
  #finish(ticket: DuplicateTicket, kind: number, payload: Buffer | DropReason): boolean {
    const hash = keyHash(ticket.key);
    const slot = this.#keys.find(ticket.key, hash);
    if (slot < 0 || this.#ids[slot] !== ticket.id) return false; // evicted (or superseded) while the handler ran
    if (this.#kind[slot] !== BUSY) return false;
    this.#vacate(slot);
    if (kind === REPLIED) {
      const length = (payload as Buffer).length;
      // Oldest first, as for the count; a reply larger than the whole budget is kept alone.
      if (length > INLINE_REPLY_BYTES) while (this.#replyBytes + length > this.#maxReplyBytes && this.#used > 0) this.#evictOldest();
    }
    // the window counts from the answer
    this.#take(ticket.key, hash, ticket.id, this.#now(), kind, payload);
    return true;
  }

  /** Writes an entry into the next slot (making room first), its key (of hash `hash`, see keyHash) linked to it. */
  #take(key: string, hash: number, id: number, at: number, kind: number, payload: Buffer | DropReason | undefined): void {
    if (this.#used === this.#kind.length) {
      if (this.#used < this.#maxSlots) this.#resize(Math.min(2 * this.#used, this.#maxSlots));
      else this.#popOldest();
    }
    const slot = (this.#tail + this.#used) % this.#kind.length;
    this.#used++;
    this.#keys.link(slot, key, hash);
    this.#ids[slot] = id;
    this.#at[slot] = at;
    this.#kind[slot] = kind;
    if (kind === REPLIED && (payload as Buffer).length <= INLINE_REPLY_BYTES) {
      const reply = payload as Buffer;
      this.#inline.set(reply, slot * INLINE_REPLY_BYTES);
      this.#inlineLength[slot] = reply.length;
      this.#payload[slot] = undefined;
    } else {
      this.#inlineLength[slot] = 0;
      this.#payload[slot] = kind === REPLIED ? ownOctets(payload as Buffer) : payload;
      if (kind === REPLIED) this.#replyBytes += (payload as Buffer).length;
    }
  }

  /** A copy of the slot's reply when it is inline (the slab is overwritten as slots are reused). */
  #replyIn(slot: number): Buffer {
    const length = this.#inlineLength[slot]!;
    if (length === 0) return this.#payload[slot] as Buffer;
    const start = slot * INLINE_REPLY_BYTES;
    return Buffer.from(this.#inline.subarray(start, start + length));
  }

  /** The slot becomes a hole; its key leaves the index. */
  #vacate(slot: number): void {
    if (this.#kind[slot] === REPLIED && this.#inlineLength[slot] === 0) this.#replyBytes -= (this.#payload[slot] as Buffer).length;
    this.#keys.unlink(slot);
    this.#payload[slot] = undefined;
    this.#kind[slot] = HOLE;
  }

  /** Drops the oldest slot (a hole, or an entry, which is evicted). */
  #popOldest(): void {
    const slot = this.#tail;
    if (this.#kind[slot] !== HOLE) this.#vacate(slot);
    this.#tail = (slot + 1) % this.#kind.length;
    this.#used--;
  }

  /** Slots are taken in time order (the clock is monotonic), so expiry only looks at the oldest. */
  #expire(now: number): void {
    const cutoff = now - this.#windowMs;
    while (this.#used > 0 && (this.#kind[this.#tail] === HOLE || this.#at[this.#tail]! <= cutoff)) this.#popOldest();
  }

  #evictOldest(): void {
    while (this.#used > 0) {
      const live = this.#kind[this.#tail] !== HOLE;
      this.#popOldest();
      if (live) return;
    }
  }

  /** A ring of `slots` slots holding the current ones, oldest first. */
  #resize(slots: number): void {
    const moves: number[] = [];
    const payload: (Buffer | DropReason | undefined)[] = new Array(slots).fill(undefined);
    const ids = new Float64Array(slots);
    const at = new Float64Array(slots);
    const kind = new Uint8Array(slots);
    const inline = new Uint8Array(slots * INLINE_REPLY_BYTES);
    const inlineLength = new Uint8Array(slots);
    const old = this.#kind.length;
    let n = 0;
    for (let i = 0; i < this.#used; i++) {
      const from = (this.#tail + i) % old;
      if (this.#kind[from] === HOLE) continue;
      moves.push(from, n);
      payload[n] = this.#payload[from];
      ids[n] = this.#ids[from]!;
      at[n] = this.#at[from]!;
      kind[n] = this.#kind[from]!;
      inlineLength[n] = this.#inlineLength[from]!;
      if (inlineLength[n] !== 0) {
        const start = from * INLINE_REPLY_BYTES;
        inline.set(this.#inline.subarray(start, start + inlineLength[n]!), n * INLINE_REPLY_BYTES);
      }
      n++;
    }
    this.#keys.grow(slots, moves);
    this.#payload = payload;
    this.#ids = ids;
    this.#at = at;
    this.#kind = kind;
    this.#inline = inline;
    this.#inlineLength = inlineLength;
    this.#tail = 0;
    this.#used = n;
  }
}

function performanceNow(): number {
  return performance.now();
}
