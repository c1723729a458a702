import { SlotKeys } from '../../src/radius/slot-keys';
import { duplicateKey } from '../../src/radius/duplicate-cache';

/** A deterministic PRNG (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const AUTH = Buffer.alloc(16, 0x5a);

// Keys of every kind the index keeps: duplicateKey's (in a cell), too long for a cell, beyond latin1, and empty.
const KINDS: [what: string, key: (i: number) => string][] = [
  ['duplicateKey, IPv4', (i) => duplicateKey(`10.0.${i >> 8}.${i & 0xff}`, 1812 + (i % 7), i & 0xff, AUTH)],
  ['duplicateKey, IPv6 with a zone (longer than a cell)', (i) => duplicateKey(`fe80::${i.toString(16)}%eth-with-a-long-name`, 1812, i & 0xff, AUTH)],
  ['chars above 0xFF', (i) => `ключ-${i}`],
  ['short and empty', (i) => (i === 0 ? '' : String(i))],
];

describe('SlotKeys', () => {
  // The index against a Map, through links and unlinks in random order, in a table small enough that keys collide
  // and deletion has to shift whole probe runs (maxKeys 24: a table of 64).
  test.each(KINDS)('finds what a Map finds: %s', (_what, keyOf) => {
    const slots = 32;
    const keys = new SlotKeys(slots, 24);
    const reference = new Map<string, number>();
    const slotKey: (string | undefined)[] = new Array(slots).fill(undefined);
    const next = random(7);
    for (let step = 0; step < 4000; step++) {
      const slot = Math.floor(next() * slots);
      const held = slotKey[slot];
      if (held !== undefined) {
        keys.unlink(slot);
        reference.delete(held);
        slotKey[slot] = undefined;
      } else if (reference.size < 24) {
        const key = keyOf(Math.floor(next() * 200));
        if (reference.has(key)) continue; // the cache links a key once (begin vacates an earlier one first)
        keys.link(slot, key);
        reference.set(key, slot);
        slotKey[slot] = key;
      }
      expect(keys.size).toBe(reference.size);
      const probe = keyOf(Math.floor(next() * 200));
      expect(keys.find(probe)).toBe(reference.get(probe) ?? -1);
    }
    for (const [key, slot] of reference) expect(keys.find(key)).toBe(slot);
  });

  test('after the ring grows, each key is found at its new slot, and nothing else', () => {
    const keys = new SlotKeys(4, 16);
    const a = duplicateKey('10.0.0.1', 1, 1, AUTH);
    const long = duplicateKey('fe80::1%an-interface-with-a-long-name', 1, 1, AUTH);
    keys.link(1, a);
    keys.link(3, long);
    keys.link(2, 'dropped by the move list');
    keys.grow(8, [3, 0, 1, 5]);
    expect(keys.find(long)).toBe(0);
    expect(keys.find(a)).toBe(5);
    expect(keys.find('dropped by the move list')).toBe(-1);
    expect(keys.size).toBe(2);
  });

  test('a key differing in one octet is another key', () => {
    const keys = new SlotKeys(2, 2);
    const a = duplicateKey('10.0.0.1', 1, 1, Buffer.alloc(16, 0x80));
    const b = duplicateKey('10.0.0.1', 1, 1, Buffer.alloc(16, 0x81));
    keys.link(0, a);
    expect(keys.find(b)).toBe(-1);
    expect(keys.find(a)).toBe(0);
  });
});
