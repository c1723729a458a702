import { evictOldest } from '../../src/collections/evict-oldest';

const mapOf = (n: number) => new Map(Array.from({ length: n }, (_, i) => [i, `v${i}`] as const));

describe('evictOldest', () => {
  test.each([
    { name: 'below the bound: nothing goes', size: 7, max: 8, left: [0, 1, 2, 3, 4, 5, 6] },
    { name: 'at the bound: the oldest eighth goes', size: 16, max: 16, left: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] },
    { name: 'a tiny bound still frees one slot', size: 3, max: 3, left: [1, 2] },
    { name: 'over the bound (it shrank): back under it', size: 10, max: 4, left: [7, 8, 9] },
  ])('$name', ({ size, max, left }) => {
    const map = mapOf(size);
    const evicted: number[] = [];
    evictOldest(map, max, (k) => evicted.push(k));
    expect([...map.keys()]).toEqual(left);
    expect(evicted).toEqual(Array.from({ length: size - left.length }, (_, i) => i));
  });

  test('used before every insert, the map never holds more than the bound and keeps the newest', () => {
    const map = new Map<number, number>();
    for (let i = 0; i < 100_000; i++) {
      evictOldest(map, 1000);
      map.set(i, i);
      expect(map.size).toBeLessThanOrEqual(1000);
    }
    expect(map.has(99_999) && map.has(99_200)).toBe(true);
    expect(map.has(0)).toBe(false);
  });
});
