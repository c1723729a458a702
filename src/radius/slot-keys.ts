/**
 * The duplicate cache's keys, by ring slot, and the index that finds a key's slot: an open-addressing hash table
 * (linear probing) in typed arrays, with each key's octets in a slab cell of its slot.
 *
 * WHY not a Map of strings: the cache keeps every request's key for its window (30 s), so each key string was
 * promoted to the old generation, copied on the way, and the Map's table, with a key added and one deleted per
 * request, was reallocated (megabytes, in the old generation) each time its deleted entries filled it. Under load
 * those were most of what the server promoted (with the ConsString keys before them: 470 KB per young-generation
 * collection; 157 KB now), and they hastened its full collections. Here a key costs no object that outlives its
 * request: its octets are copied into the slot's cell, and the table holds slot numbers.
 * A key that does not fit a cell (an IPv6 source with a long zone name) or has a char above 0xFF (not one of
 * duplicateKey's) is kept as the string itself; those are rare.
 */

import { randomInt } from 'node:crypto';

/** Octets of a key kept in its slot's cell: duplicateKey's 19-octet head and an address of up to 29 chars. */
const KEY_CELL = 48;
/** In `#length`: the slot's key is in `#long` (0 is never a cell key's length: a key has its 19-octet head). */
const LONG = 0;

/**
 * Mixed into every hash. WHY: a key's authenticator and identifier are the sender's choice, and a client not held
 * to Message-Authenticator is only known by its source address, which can be forged; with a hash anyone can
 * compute, such a sender could pick keys that all land in one probe run and make every lookup walk it (a Map's
 * string hash is seeded per process for the same reason).
 */
const SEED = randomInt(2 ** 32);

/** FNV-1a over the key's char codes from a seeded start, then a final mix: the table's index bits depend on every char. */
export function keyHash(key: string): number {
  let h = 0x811c9dc5 ^ SEED;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

function fitsCell(key: string): boolean {
  if (key.length === LONG || key.length > KEY_CELL) return false;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0xff) return false;
  return true;
}

export class SlotKeys {
  /** Slot + 1 of each key linked into the table; 0: empty. */
  readonly #table: Int32Array;
  readonly #mask: number;
  #hash: Int32Array;
  #length: Uint8Array;
  #cells: Uint8Array;
  #long: (string | undefined)[];
  #linked = 0;

  /** `slots`: the ring's size (it may grow, see grow); `maxKeys`: the most keys linked at once. */
  constructor(slots: number, maxKeys: number) {
    let size = 8;
    while (size < 2 * maxKeys) size *= 2; // at most half full, so probes stay short
    this.#table = new Int32Array(size);
    this.#mask = size - 1;
    this.#hash = new Int32Array(slots);
    this.#length = new Uint8Array(slots);
    this.#cells = new Uint8Array(slots * KEY_CELL);
    this.#long = new Array(slots).fill(undefined);
  }

  /** Keys linked into the table. */
  get size(): number {
    return this.#linked;
  }

  /** The slot whose key equals `key`, or -1. `h`: keyHash(key), when the caller has it already. */
  find(key: string, h: number = keyHash(key)): number {
    for (let i = h & this.#mask; ; i = (i + 1) & this.#mask) {
      const entry = this.#table[i]!;
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (this.#hash[slot] === h && this.#equals(slot, key)) return slot;
    }
  }

  /** Keeps `key` as slot's key and links it (the caller has made sure it is not linked yet: see find). */
  link(slot: number, key: string, h: number = keyHash(key)): void {
    this.#hash[slot] = h;
    if (fitsCell(key)) {
      const at = slot * KEY_CELL;
      for (let i = 0; i < key.length; i++) this.#cells[at + i] = key.charCodeAt(i);
      this.#length[slot] = key.length;
      this.#long[slot] = undefined;
    } else {
      this.#length[slot] = LONG;
      this.#long[slot] = key;
    }
    this.#insert(h, slot);
  }

  /** Slot's key leaves the table (backward-shift deletion: no tombstones, so lookups never slow down). */
  unlink(slot: number): void {
    let hole = this.#positionOf(slot);
    this.#long[slot] = undefined;
    this.#linked--;
    this.#table[hole] = 0;
    for (let j = (hole + 1) & this.#mask; this.#table[j] !== 0; j = (j + 1) & this.#mask) {
      const entry = this.#table[j]!;
      const home = this.#hash[entry - 1]! & this.#mask;
      // the entry at j stays unless the hole lies between its home and j (cyclically): then it moves up into it
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      this.#table[hole] = entry;
      this.#table[j] = 0;
      hole = j;
    }
  }

  /**
   * The ring grew to `slots` and compacted: `moves` pairs each live slot with its new number (old, new, old, new…).
   * The table is rebuilt from them.
   */
  grow(slots: number, moves: readonly number[]): void {
    const before = { hash: this.#hash, length: this.#length, cells: this.#cells, long: this.#long };
    this.#hash = new Int32Array(slots);
    this.#length = new Uint8Array(slots);
    this.#cells = new Uint8Array(slots * KEY_CELL);
    this.#long = new Array(slots).fill(undefined);
    this.#table.fill(0);
    this.#linked = 0;
    for (let i = 0; i < moves.length; i += 2) {
      const from = moves[i]!;
      const to = moves[i + 1]!;
      this.#hash[to] = before.hash[from]!;
      this.#length[to] = before.length[from]!;
      this.#cells.set(before.cells.subarray(from * KEY_CELL, (from + 1) * KEY_CELL), to * KEY_CELL);
      this.#long[to] = before.long[from];
      this.#insert(this.#hash[to]!, to);
    }
  }

  #insert(h: number, slot: number): void {
    let i = h & this.#mask;
    while (this.#table[i] !== 0) i = (i + 1) & this.#mask;
    this.#table[i] = slot + 1;
    this.#linked++;
  }

  /** Where in the table slot's key is linked (it must be). */
  #positionOf(slot: number): number {
    for (let i = this.#hash[slot]! & this.#mask; ; i = (i + 1) & this.#mask) {
      if (this.#table[i] === slot + 1) return i;
      if (this.#table[i] === 0) throw new Error(`duplicate cache: slot ${slot} is not linked`);
    }
  }

  #equals(slot: number, key: string): boolean {
    const length = this.#length[slot]!;
    if (length === LONG) return this.#long[slot] === key;
    if (key.length !== length) return false;
    const at = slot * KEY_CELL;
    for (let i = 0; i < length; i++) if (this.#cells[at + i] !== key.charCodeAt(i)) return false;
    return true;
  }
}
