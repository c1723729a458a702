import { downWarning, freeAgainNote, heldWarning, watchDatabaseHealth, type DownReason } from '../../src/app/database-health';
import type { LoginReadiness, PartialLoginTable } from '../../src/store/connect';

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
  // only tables some logins write held: the others go on (see below)
  ['answers, only the challenge table locked by another session', true, undefined, undefined, async () => ({ held: ['challenge'] })],
  ['answers, only the password_lockout table locked by another session', true, undefined, undefined, async () => ({ held: ['password_lockout'] })],
  ['answers, password_lockout and challenge locked by another session', true, undefined, undefined, async () => ({ held: ['password_lockout', 'challenge'] })],
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

/*
 * Down for one reason, then for another: told again. A failover whose virtual IP moved to a standby first cut the
 * connections (unreachable), then led to the standby (read-only); only the first was told, so the one on call looked
 * for a network fault while the node sat on a standby (and test/e2e/standby-failover.test.ts, which waits for the
 * read-only warning, failed whenever the first down round met the cut). The same reason again is not told again.
 */
test('down as unreachable, then as read-only, then read-only again, then up: each change of reason told once', async () => {
  const answers: (() => Promise<LoginReadiness>)[] = [
    () => Promise.reject(new Error('Connection terminated unexpectedly')),
    async () => 'read-only',
    async () => 'read-only',
    async () => ({ locked: 'token' }),
    async () => 'ready',
  ];
  let round = 0;
  const changes: [boolean, DownReason | undefined, string | undefined][] = [];
  const health = watchDatabaseHealth({
    ping: () => answers[Math.min(round++, answers.length - 1)]!(),
    onChange: (up, why, table) => changes.push([up, why, table]),
    intervalMs: 5,
  });
  await until(() => round > answers.length + 1);
  await health.stop();
  expect(changes).toEqual([
    [false, 'unreachable', undefined],
    [false, 'read-only', undefined],
    [false, 'locked', 'token'],
    [true, undefined, undefined],
  ]);
});

/*
 * A database whose answer flaps between two reasons (no answer in time, then the pool exhausted, round after round)
 * was told every round, a warning every 2 s. Each reason is told once; told again only after retellAfterMs (the clock
 * here is the round count), and only when it is not the reason told last, so the log's last word catches up with the
 * reason the outage settled on.
 */
// [case, what the checks find one round after another (then the last again), retellAfterMs in rounds, what is told]
const flapRows: [string, ('unreachable' | 'pool' | 'ready')[], number, [boolean, DownReason | undefined][]][] = [
  ['flapping for 20 rounds, then up', [...Array.from({ length: 20 }, (_, i) => (i % 2 ? 'pool' : 'unreachable') as 'unreachable' | 'pool'), 'ready'], 1000, [
    [false, 'unreachable'], [false, 'pool exhausted'], [true, undefined],
  ]],
  // settled on the reason told first, while the log's last word was the other: told again once its time has passed
  ['flapping, then settled on the first reason', ['unreachable', 'pool', 'unreachable', 'pool', 'unreachable'], 10, [
    [false, 'unreachable'], [false, 'pool exhausted'], [false, 'unreachable'],
  ]],
  // back up ends the outage: the same reasons in the next one are told at once
  ['flapping, up, flapping again', ['unreachable', 'pool', 'ready', 'unreachable', 'pool', 'unreachable', 'pool'], 1000, [
    [false, 'unreachable'], [false, 'pool exhausted'], [true, undefined], [false, 'unreachable'], [false, 'pool exhausted'],
  ]],
];
test.each(flapRows)('a down reason that flaps: %s', async (_case, answers, retellAfterRounds, expected) => {
  let round = 0;
  const changes: [boolean, DownReason | undefined][] = [];
  const answer = (a: 'unreachable' | 'pool' | 'ready'): Promise<LoginReadiness> =>
    a === 'ready' ? Promise.resolve('ready') : Promise.reject(new Error(a === 'pool' ? 'timeout exceeded when trying to connect' : 'ECONNREFUSED'));
  const health = watchDatabaseHealth({
    ping: () => answer(answers[Math.min(round++, answers.length - 1)]!),
    onChange: (up, why) => changes.push([up, why]),
    intervalMs: 5,
    retellAfterMs: retellAfterRounds,
    clock: () => round,
  });
  await until(() => round > answers.length + 20);
  await health.stop();
  expect(changes).toEqual(expected);
});

/** The warning the one on call reads: where to look for each reason. */
test.each([
  ['read-only', undefined, /read-only \(a standby, or default_transaction_read_only\)/],
  ['locked', 'token', /holds the table token, which logins write, locked/],
  ['pool exhausted', undefined, /every connection of the pool is busy.*database\.poolSize/],
  ['unreachable', undefined, /unreachable/],
] as const)('%s (table %s): the warning says where to look', (why, table, says) => {
  expect(downWarning(why, table)).toMatch(says);
  expect(downWarning(why, table)).toMatch(/Status-Server goes unanswered and \/healthz is 503/);
});

/*
 * A table only some logins write, held by another session: `challenge` (a DBA's VACUUM FULL challenge, an ALTER TABLE
 * on it) holds up only the logins asked for their code (and their answers); `password_lockout` (a LOCK TABLE, a long
 * migration) only those that check a password. otp-only logins touch neither. Every node shares the database, so it
 * is held for all of them at once: counting it as down sent every NAS away from every node (Status-Server
 * unanswered, /healthz 503) and turned away the logins that could be decided, to no server that could do better.
 * The node stays up; each table's change is told on its own.
 */
// [what the checks find, one after another; what is told, in order]
const heldRows: [string, LoginReadiness[], [PartialLoginTable, boolean][]][] = [
  ['challenge held, then free', [{ held: ['challenge'] }, 'ready'], [['challenge', true], ['challenge', false]]],
  ['password_lockout held, then free', [{ held: ['password_lockout'] }, 'ready'], [['password_lockout', true], ['password_lockout', false]]],
  [
    'both held, then challenge let go, then password_lockout',
    [{ held: ['password_lockout', 'challenge'] }, { held: ['password_lockout'] }, 'ready'],
    [['password_lockout', true], ['challenge', true], ['challenge', false], ['password_lockout', false]],
  ],
  // token held: the check stops there and says nothing of the others (not told free, nor held)
  ['password_lockout held, then token held too, then all free', [{ held: ['password_lockout'] }, { locked: 'token' }, 'ready'], [['password_lockout', true], ['password_lockout', false]]],
];
test.each(heldRows)('%s: up all along (but while token is held), each change told once', async (_case, answers, expected) => {
  const told: [PartialLoginTable, boolean][] = [];
  const downs: boolean[] = [];
  let step = 0;
  let pingsAtStep = 0;
  const health = watchDatabaseHealth({
    ping: async () => {
      if (++pingsAtStep > 3 && step < answers.length - 1) (step++, (pingsAtStep = 0));
      return answers[step]!;
    },
    onChange: (up) => downs.push(up),
    onHeld: (table, held) => told.push([table, held]),
    intervalMs: 5,
  });
  await until(() => step === answers.length - 1 && pingsAtStep >= 3);
  await health.stop();
  expect(told).toEqual(expected);
  expect(health.up()).toBe(true);
  expect(health.held('challenge') || health.held('password_lockout')).toBe(false);
  expect(downs).toEqual(answers.some((a) => typeof a === 'object' && 'locked' in a) ? [false, true] : []);
});

test('while held, held() says so', async () => {
  let answer: LoginReadiness = { held: ['password_lockout'] };
  const held: boolean[] = [];
  const health = watchDatabaseHealth({ ping: async () => answer, onHeld: (_t, h) => held.push(h), intervalMs: 5 });
  await until(() => held.length === 1);
  expect([health.held('password_lockout'), health.held('challenge')]).toEqual([true, false]);
  answer = 'ready';
  await until(() => held.length === 2);
  await health.stop();
  expect(health.held('password_lockout')).toBe(false);
});

// [table, what its warning says of the logins that wait, of those that go on]
test.each([
  ['challenge', /logins asked for their code \(loginStyle challenge, OCRA\) wait/, /otp-only and append logins, and password-only users, go on/],
  ['password_lockout', /logins that check a password .* wait out database\.queryTimeout/, /otp-only logins, and answers to a challenge, go on/],
] as const)("the %s table's warning says where to look, which logins wait, which go on, and that the node stays up", (table, waiting, goOn) => {
  expect(heldWarning(table)).toMatch(new RegExp(`holds the table ${table} locked.*pg_locks`));
  expect(heldWarning(table)).toMatch(waiting);
  expect(heldWarning(table)).toMatch(goOn);
  expect(heldWarning(table)).toMatch(/\/healthz stays 200/);
  expect(freeAgainNote(table)).toMatch(new RegExp(`^the table ${table} is free again`));
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
