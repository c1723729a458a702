import { watchDatabaseHealth } from '../../src/app/database-health';

/*
 * Status-Server is answered only while the database answers: refusing connections and hanging (a frozen
 * server, a dead route) both count as down, and each change is reported once.
 */
async function until(what: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

// [case, what a ping does, up afterwards]
const cases: [string, () => Promise<boolean>, boolean][] = [
  ['answers', async () => true, true],
  ['says it is not reachable', async () => false, false],
  ['throws', () => Promise.reject(new Error('ECONNREFUSED')), false],
  ['never answers (past the timeout)', () => new Promise<boolean>(() => {}), false],
];

test.each(cases)('a database that %s: up is %s', async (_case, ping, expected) => {
  const changes: boolean[] = [];
  let pings = 0;
  const health = watchDatabaseHealth({ ping: () => (pings++, ping()), onChange: (up) => changes.push(up), intervalMs: 5, timeoutMs: 20 });
  await until(() => pings >= 3);
  await health.stop();
  expect(health.up()).toBe(expected);
  expect(changes).toEqual(expected ? [] : [false]); // up at start; a change is reported once
});

test('down, then back: both changes reported once', async () => {
  let answer = false;
  const changes: boolean[] = [];
  const health = watchDatabaseHealth({ ping: async () => answer, onChange: (up) => changes.push(up), intervalMs: 5 });
  await until(() => changes.length === 1);
  answer = true;
  await until(() => changes.length === 2);
  await health.stop();
  expect(changes).toEqual([false, true]);
});
