/**
 * A map from bigint ids (database row ids) to values, for entries added and removed at a high rate while few are
 * held at once: an open-addressing hash table (linear probing, deletion by shifting the probe run back, so no
 * tombstones) in arrays allocated once, grown when half full and never shrunk.
 *
 * WHY not a Map: OneLoginPerUser adds an entry at the start of every login and deletes it at its end. A Map's
 * table fills with deleted entries and is then rebuilt, and shrunk when most are gone; the Map lives as long as the
 * server, so V8 allocates each new table straight in the old generation (a rebuilt table goes where the table it
 * replaces was). Under the benchmark's otp-only load that was a 2.4-3.6 KB table every ~64 logins, a quarter of
 * the bytes the sampling heap profiler saw survive young collections; the old generation filling is what brings on a
 * full collection, whose pause is every waiting login's (OneLoginPerUser alone, 2.2M logins: 13 full collections
 * with a Map, none with this). Here an entry costs nothing that outlives it.
 *
 * Keys are ids the database assigned, not values a sender chooses: the hash needs no seed against collisions
 * (SlotKeys, whose keys a sender picks, has one).
 */
export class IdTable<V> {
  #keys: BigInt64Array;
  #used: Uint8Array;
  #values: (V | undefined)[];
  #mask: number;
  #size = 0;

  constructor(capacity = 64) {
    let slots = 8;
    while (slots < 2 * capacity) slots *= 2;
    this.#keys = new BigInt64Array(slots);
    this.#used = new Uint8Array(slots);
    this.#values = new Array<V | undefined>(slots).fill(undefined);
    this.#mask = slots - 1;
  }

  get size(): number {
    return this.#size;
  }

  has(key: bigint): boolean {
    return this.#find(key) >= 0;
  }

  get(key: bigint): V | undefined {
    const i = this.#find(key);
    return i >= 0 ? this.#values[i] : undefined;
  }

  set(key: bigint, value: V): void {
    let i = this.#home(key);
    while (this.#used[i] === 1) {
      if (this.#keys[i] === key) {
        this.#values[i] = value;
        return;
      }
      i = (i + 1) & this.#mask;
    }
    if (2 * (this.#size + 1) > this.#mask + 1) {
      this.#grow();
      this.set(key, value);
      return;
    }
    this.#used[i] = 1;
    this.#keys[i] = key;
    this.#values[i] = value;
    this.#size++;
  }

  delete(key: bigint): boolean {
    let hole = this.#find(key);
    if (hole < 0) return false;
    this.#size--;
    // Shift back every entry of the probe run after the hole that may sit there: one whose home is not in the
    // cyclic range (hole, j] would no longer be found past the hole.
    for (let j = (hole + 1) & this.#mask; this.#used[j] === 1; j = (j + 1) & this.#mask) {
      const home = this.#home(this.#keys[j]!);
      const reachable = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (reachable) continue;
      this.#keys[hole] = this.#keys[j]!;
      this.#values[hole] = this.#values[j];
      hole = j;
    }
    this.#used[hole] = 0;
    this.#values[hole] = undefined;
    return true;
  }

  #find(key: bigint): number {
    for (let i = this.#home(key); this.#used[i] === 1; i = (i + 1) & this.#mask) if (this.#keys[i] === key) return i;
    return -1;
  }

  /** The slot a key's probe run starts at: the id's low and high 32 bits, mixed (ids are mostly consecutive). */
  #home(key: bigint): number {
    const n = Number(key);
    const h = Math.imul((n | 0) ^ ((n / 4294967296) | 0), 0x9e3779b1);
    return (h ^ (h >>> 15)) & this.#mask;
  }

  #grow(): void {
    const keys = this.#keys;
    const used = this.#used;
    const values = this.#values;
    const slots = 2 * (this.#mask + 1);
    this.#keys = new BigInt64Array(slots);
    this.#used = new Uint8Array(slots);
    this.#values = new Array<V | undefined>(slots).fill(undefined);
    this.#mask = slots - 1;
    this.#size = 0;
    for (let i = 0; i < used.length; i++) if (used[i] === 1) this.set(keys[i]!, values[i] as V);
  }
}
