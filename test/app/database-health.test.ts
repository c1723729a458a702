import { challengesHeldWarning, downWarning, watchDatabaseHealth, type DownReason } from '../../src/app/database-health';
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
// [case, up afterwards, why reported, the table reported, what a ping does]
const cases: [string, boolean, DownReason | undefined, string | undefined, () => Promise<LoginReadiness>][] = [
  ['answers and takes writes', true, undefined, undefined, async () => 'ready'],
  ['answers read-only', false, 'read-only', undefined, async () => 'read-only'],
  // another session holds a table logins write: every login would wait out database.queryTimeout; which one is said
  ['answers, a login table locked by another session', false, 'locked', 'token', async () => ({ locked: 'token' })],
  // only the challenge table held: otp-only, append and password-only logins never touch it (see below)
  ['answers, only the challenge table locked by another session', true, undefined, undefined, async () => ({ locked: 'challenge' })],
  ['cannot be reached (the ping throws)', false, 'unreachable', undefined, () => Promise.reject(new Error('ECONNREFUSED'))],
  ['never answers (past the timeout)', false, 'no answer in time', undefined, () => new Promise<LoginReadiness>(() => {})],
  // every pooled connection busy: database.poolSize, not the database, is what to look at
  ['is not reached: no pooled connection came free', false, 'pool exhausted', undefined, () => Promise.reject(new Error('timeout exceeded when trying to connect'))],
  // PostgreSQL answered with an error of its own: what it said is the reason, not 'unreachable'
  ['refuses new connections (too many)', false, 'refused', undefined, () => Promise.reject(Object.assign(new Error('too many connections for role "radotp"'), { code: '53300' }))],
  // a shutdown ends the sessions with 57P01: the database going away
  ['is shutting down (57P01)', false, 'unreachable', undefined, () => Promise.reject(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))],
];

test.each(cases)('a database that %s: up is %s, why %s', async (_case, expected, why, table, ping) => {
  const changes: [boolean, DownReason | undefined, string | undefined][] = [];
  let pings = 0;
  const health = watchDatabaseHealth({ ping: () => (pings++, ping()), onChange: (up, reason, t) => changes.push([up, reason, t]), intervalMs: 5, timeoutMs: 20 });
  await until(() => pings >= 3);
  await health.stop();
  expect(health.up()).toBe(expected);
  expect(changes).toEqual(expected ? [] : [[false, why, table]]); // up at start; a change is reported once
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

/** The warning the one on call reads: where to look for each reason. */
test.each([
  ['read-only', undefined, /read-only \(a standby, or default_transaction_read_only\)/],
  ['locked', 'password_lockout', /holds the table password_lockout, which logins write, locked/],
  ['pool exhausted', undefined, /every connection of the pool is busy.*database\.poolSize/],
  ['unreachable', undefined, /unreachable/],
] as const)('%s (table %s): the warning says where to look', (why, table, says) => {
  expect(downWarning(why, table)).toMatch(says);
  expect(downWarning(why, table)).toMatch(/Status-Server goes unanswered and \/healthz is 503/);
});

/*
 * A challenge table held by another session (a DBA's VACUUM FULL challenge, an ALTER TABLE on it) holds up only the
 * logins that are asked for their code (and their answers); otp-only and append logins, and users of a password
 * alone, never touch it. Every node shares the database, so it is held for all of them at once: counting it as
 * down sent every NAS away from every node (Status-Server unanswered, /healthz 503) and turned away the logins
 * that could be decided, to no server that could do better. The node stays up; the change is told on its own.
 */
test('only the challenge table held: up all along, told once when it is held and once when it is let go', async () => {
  let answer: LoginReadiness = { locked: 'challenge' };
  const changes: boolean[] = [];
  const held: boolean[] = [];
  let pings = 0;
  const health = watchDatabaseHealth({ ping: async () => (pings++, answer), onChange: (up) => changes.push(up), onChallengesHeld: (h) => held.push(h), intervalMs: 5 });
  await until(() => held.length === 1 && pings >= 3);
  expect(health.challengesHeld()).toBe(true);
  answer = 'ready';
  await until(() => held.length === 2);
  await health.stop();
  expect(changes).toEqual([]);
  expect(health.up()).toBe(true);
  expect(health.challengesHeld()).toBe(false);
  expect(held).toEqual([true, false]);
});

test("the challenge table's warning says where to look, and that the node stays up", () => {
  expect(challengesHeldWarning()).toMatch(/holds the table challenge locked.*pg_locks/);
  expect(challengesHeldWarning()).toMatch(/otp-only and append logins/);
  expect(challengesHeldWarning()).toMatch(/\/healthz stays 200/);
});

/** A refusal's warning: PostgreSQL's words, the SQLSTATE, and where to look. */
test.each([
  ['53300', 'sorry, too many clients already', /refuses this node: sorry, too many clients already \(SQLSTATE 53300: too many connections: max_connections/],
  ['53100', 'could not extend file: No space left on device', /\(SQLSTATE 53100: disk full/],
  ['28P01', 'password authentication failed for user "radotp"', /\(SQLSTATE 28P01: radotp's role or its password in database\.url/],
  ['XX000', 'something else', /refuses this node: something else \(SQLSTATE XX000\)/],
])('refused with SQLSTATE %s: the warning says what PostgreSQL said and where to look', (sqlstate, err, says) => {
  expect(downWarning('refused', undefined, { sqlstate, err })).toMatch(says);
});

test('the refusal is reported with the change', async () => {
  const changes: unknown[][] = [];
  const refused = Object.assign(new Error('sorry, too many clients already'), { code: '53300' });
  const health = watchDatabaseHealth({ ping: () => Promise.reject(refused), onChange: (...args) => changes.push(args), intervalMs: 5 });
  await until(() => changes.length === 1);
  await health.stop();
  expect(changes).toEqual([[false, 'refused', undefined, { sqlstate: '53300', err: 'sorry, too many clients already' }]]);
});
