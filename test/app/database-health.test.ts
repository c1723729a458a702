import { watchDatabaseHealth, type DownReason } from '../../src/app/database-health';
import type { LoginReadiness } from '../../src/store/connect';

/*
 * Status-Server is answered only while the database answers and takes writes: refusing connections, hanging
 * (a frozen server, a dead route) and answering read-only (a standby) all count as down, each change is
 * reported once, and a fall says which of them it was (serve's warning names it: an operator looking for a
 * network fault when the database is a standby looks in the wrong place).
 */
async function until(what: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

// [case, up afterwards, why reported, what a ping does]
const cases: [string, boolean, DownReason | undefined, () => Promise<LoginReadiness>][] = [
  ['answers and takes writes', true, undefined, async () => 'ready'],
  ['answers read-only', false, 'read-only', async () => 'read-only'],
  // another session holds the tables logins write: every login would wait out database.queryTimeout
  ['answers, its login tables locked by another session', false, 'locked', async () => 'locked'],
  ['cannot be reached (the ping throws)', false, 'unreachable', () => Promise.reject(new Error('ECONNREFUSED'))],
  ['never answers (past the timeout)', false, 'no answer in time', () => new Promise<LoginReadiness>(() => {})],
];

test.each(cases)('a database that %s: up is %s, why %s', async (_case, expected, why, ping) => {
  const changes: [boolean, DownReason | undefined][] = [];
  let pings = 0;
  const health = watchDatabaseHealth({ ping: () => (pings++, ping()), onChange: (up, reason) => changes.push([up, reason]), intervalMs: 5, timeoutMs: 20 });
  await until(() => pings >= 3);
  await health.stop();
  expect(health.up()).toBe(expected);
  expect(changes).toEqual(expected ? [] : [[false, why]]); // up at start; a change is reported once
});

test('down, then back: both changes reported once', async () => {
  let answer: LoginReadiness = 'read-only';
  const changes: boolean[] = [];
  const health = watchDatabaseHealth({ ping: async () => answer, onChange: (up) => changes.push(up), intervalMs: 5 });
  await until(() => changes.length === 1);
  answer = 'ready';
  await until(() => changes.length === 2);
  await health.stop();
  expect(changes).toEqual([false, true]);
});
