import { IdTable } from '../../src/lang/id-table';

/** A small deterministic PRNG (mulberry32): the same sequence on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every key of `model` is found with its value, and a few that are not are not found. */
function expectSame(table: IdTable<number>, model: Map<bigint, number>, absent: readonly bigint[]): void {
  expect(table.size).toBe(model.size);
  for (const [k, v] of model) {
    expect(table.has(k)).toBe(true);
    expect(table.get(k)).toBe(v);
  }
  for (const k of absent) if (!model.has(k)) expect(table.has(k)).toBe(false);
}

// Key sets: consecutive ids (what a database assigns), ids that share their low 32 bits (only the high bits tell
// them apart), large ids beyond 2^53 (Number() rounds them: only the bigint comparison tells them apart), and a
// few ids in many slots' worth of churn (long probe runs wrapping around the table's end).
const keySets: { name: string; keys: bigint[] }[] = [
  { name: 'consecutive ids', keys: Array.from({ length: 200 }, (_, i) => BigInt(i + 1)) },
  { name: 'ids equal in their low 32 bits', keys: Array.from({ length: 200 }, (_, i) => (BigInt(i) << 32n) | 7n) },
  { name: 'ids beyond 2^53, one apart', keys: Array.from({ length: 200 }, (_, i) => 2n ** 60n + BigInt(i)) },
  { name: 'ids that are multiples of 1024', keys: Array.from({ length: 200 }, (_, i) => BigInt(i) * 1024n) },
];

describe.each(keySets)('IdTable against a Map: $name', ({ keys }) => {
  test.each([1, 2, 3])('random sets, overwrites and deletes (seed %i) agree at every step', (seed) => {
    const next = random(seed);
    const table = new IdTable<number>(4); // small, so it grows and its probe runs collide
    const model = new Map<bigint, number>();
    for (let step = 0; step < 4000; step++) {
      // few live at once, as logins in progress: more deletes once many are in
      const key = keys[Math.floor(next() * keys.length)]!;
      if (next() < 0.5 + model.size / (2 * keys.length)) {
        expect(table.delete(key)).toBe(model.delete(key));
      } else {
        table.set(key, step);
        model.set(key, step);
      }
      if (step % 97 === 0) expectSame(table, model, keys);
    }
    expectSame(table, model, keys);
    for (const k of [...model.keys()]) expect(table.delete(k)).toBe(true);
    expect(table.size).toBe(0);
    for (const k of keys) expect(table.has(k)).toBe(false);
  });
});

test('a value may be null (a user with a login in progress and none waiting), told apart from no entry', () => {
  const table = new IdTable<number[] | null>();
  table.set(5n, null);
  expect(table.has(5n)).toBe(true);
  expect(table.get(5n)).toBeNull();
  expect(table.has(6n)).toBe(false);
  expect(table.get(6n)).toBeUndefined();
  expect(table.delete(6n)).toBe(false);
  expect(table.delete(5n)).toBe(true);
  expect(table.has(5n)).toBe(false);
});

test('every entry is found after the table grew many times over', () => {
  const table = new IdTable<string>(1);
  for (let i = 0; i < 5000; i++) table.set(BigInt(i * 7919), `v${i}`);
  expect(table.size).toBe(5000);
  for (let i = 0; i < 5000; i++) expect(table.get(BigInt(i * 7919))).toBe(`v${i}`);
});
