import { waitedBetween } from '../../bench/lib/proc';

// The benchmark's "waited for a CPU" for PostgreSQL sums its processes, some of which come and go in a round.
const cases: { name: string; before: [number, number][]; after: [number, number][]; waited: number }[] = [
  { name: 'the same processes', before: [[1, 2], [2, 5]], after: [[1, 3], [2, 7]], waited: 3 },
  { name: 'a process started meanwhile counts from zero', before: [[1, 2]], after: [[1, 3], [9, 0.5]], waited: 1.5 },
  { name: 'a process that exited meanwhile is left out, not subtracted', before: [[1, 2], [2, 40]], after: [[1, 3]], waited: 1 },
  { name: 'nothing left', before: [[1, 2]], after: [], waited: 0 },
];

test.each(cases)('$name', ({ before, after, waited }) => {
  expect(waitedBetween(new Map(before), new Map(after))).toBeCloseTo(waited);
});
