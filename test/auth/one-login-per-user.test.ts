import { OneLoginPerUser } from '../../src/auth/one-login-per-user';

/* The per-user turn that keeps auth.lockout's bound under bursts (the whole story: test/e2e/lockout-burst.test.ts). */

/** A decision that settles when the test says so, recording when it started. */
function held(started: string[], name: string) {
  let settle!: (v: string) => void;
  let fail!: (e: Error) => void;
  const decision = () => {
    started.push(name);
    return new Promise<string>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
  };
  return { decision, settle: () => settle(name), fail: (e: Error) => fail(e) };
}

const flush = () => new Promise((r) => setImmediate(r));
const busy = () => 'busy';

test("a user's second login starts only once the first has settled; the third after the second", async () => {
  const gate = new OneLoginPerUser(8);
  const started: string[] = [];
  const [a, b, c] = ['a', 'b', 'c'].map((n) => held(started, n));
  const answers = [gate.run(1n, a!.decision, busy), gate.run(1n, b!.decision, busy), gate.run(1n, c!.decision, busy)];
  await flush();
  expect(started).toEqual(['a']);
  a!.settle();
  await flush();
  expect(started).toEqual(['a', 'b']);
  b!.settle();
  await flush();
  expect(started).toEqual(['a', 'b', 'c']);
  c!.settle();
  expect(await Promise.all(answers)).toEqual(['a', 'b', 'c']);
  expect(gate.size).toBe(0);
});

test('different users never wait for each other', async () => {
  const gate = new OneLoginPerUser(8);
  const started: string[] = [];
  const [a, b] = ['a', 'b'].map((n) => held(started, n));
  const answers = [gate.run(1n, a!.decision, busy), gate.run(2n, b!.decision, busy)];
  await flush();
  expect(started).toEqual(['a', 'b']);
  b!.settle();
  a!.settle();
  expect(await Promise.all(answers)).toEqual(['a', 'b']);
});

test('a decision made from memory (a plain value) takes no turn and leaves nothing behind', () => {
  const gate = new OneLoginPerUser(8);
  expect(gate.run(1n, () => 'now', busy)).toBe('now');
  expect(gate.run(1n, () => 'again', busy)).toBe('again');
  expect(gate.size).toBe(0);
});

test.each([
  { waiting: 0, extra: 1, refused: 1 },
  { waiting: 2, extra: 2, refused: 0 },
  { waiting: 2, extra: 5, refused: 3 },
])('with $waiting allowed to wait, $extra more logins during one in progress: $refused refused unchecked', async ({ waiting, extra, refused }) => {
  const gate = new OneLoginPerUser(waiting);
  const started: string[] = [];
  const first = held(started, 'first');
  const answers = [gate.run(1n, first.decision, busy)];
  for (let i = 0; i < extra; i++) answers.push(gate.run(1n, () => `later-${i}`, busy));
  first.settle();
  const got = await Promise.all(answers);
  expect(got.filter((g) => g === 'busy')).toHaveLength(refused);
  expect(started).toEqual(['first']);
  expect(gate.size).toBe(0);
});

test('a decision that fails (rejects or throws) hands the turn on, and its own caller sees the error', async () => {
  const gate = new OneLoginPerUser(8);
  const started: string[] = [];
  const a = held(started, 'a');
  const first = gate.run(1n, a.decision, busy);
  const thrower = gate.run(1n, () => {
    throw new Error('thrown');
  }, busy);
  const last = gate.run(1n, () => 'last', busy);
  a.fail(new Error('rejected'));
  await expect(first).rejects.toThrow('rejected');
  await expect(thrower).rejects.toThrow('thrown');
  expect(await last).toBe('last');
  expect(gate.size).toBe(0);
});

/*
 * The database slow rather than down (another session holding the user's token row): the login in progress waits
 * out database.queryTimeout, and each one queued behind it waited out its own in turn, the 9th about 9 x the
 * timeout after it came, long after the NAS gave up (the whole story: test/e2e/stuck-token-row.test.ts).
 */
const HELD_UP = new Error('held up by the database');
const heldUp = (e: unknown) => e === HELD_UP;
const refusedAs = (why: string) => `refused: ${why}`;

test('when the login in progress fails held up, every login waiting behind it is refused at once, unstarted; a later one starts afresh', async () => {
  const gate = new OneLoginPerUser(8, { maxWaitMs: 10_000, heldUp });
  const started: string[] = [];
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => held(started, n));
  const answers = [gate.run(1n, a!.decision, refusedAs), gate.run(1n, b!.decision, refusedAs), gate.run(1n, c!.decision, refusedAs)];
  a!.fail(HELD_UP);
  await expect(answers[0]).rejects.toBe(HELD_UP);
  expect(await Promise.all(answers.slice(1))).toEqual(['refused: held up ahead', 'refused: held up ahead']);
  expect(gate.size).toBe(0);
  const later = gate.run(1n, d!.decision, refusedAs);
  await flush();
  expect(started).toEqual(['a', 'd']);
  d!.settle();
  expect(await later).toBe('d');
});

test.each([
  { label: 'a settled decision', end: (h: ReturnType<typeof held>) => h.settle() },
  { label: 'a failure not held up (a bug)', end: (h: ReturnType<typeof held>) => h.fail(new Error('a bug')) },
])('after $label, the next waiting login starts as before', async ({ end }) => {
  const gate = new OneLoginPerUser(8, { maxWaitMs: 10_000, heldUp });
  const started: string[] = [];
  const [a, b] = ['a', 'b'].map((n) => held(started, n));
  const first = gate.run(1n, a!.decision, refusedAs);
  const second = gate.run(1n, b!.decision, refusedAs);
  end(a!);
  await Promise.resolve(first).catch(() => {});
  await flush();
  expect(started).toEqual(['a', 'b']);
  b!.settle();
  expect(await second).toBe('b');
});

test.each([
  { waitedMs: 9_999, expected: ['b'], answer: 'b' },
  { waitedMs: 10_000, expected: ['b'], answer: 'b' },
  { waitedMs: 10_001, expected: [], answer: 'refused: waited too long' },
])('a login whose turn comes $waitedMs ms after it began waiting (bound 10,000 ms): started $expected', async ({ waitedMs, expected, answer }) => {
  let now = 1_000;
  const gate = new OneLoginPerUser(8, { maxWaitMs: 10_000, heldUp, now: () => now });
  const started: string[] = [];
  const [a, b] = ['a', 'b'].map((n) => held(started, n));
  const first = gate.run(1n, a!.decision, refusedAs);
  const second = gate.run(1n, b!.decision, refusedAs);
  now += waitedMs;
  a!.settle();
  await first;
  await flush();
  expect(started.slice(1)).toEqual(expected);
  if (expected.length > 0) b!.settle();
  expect(await second).toBe(answer);
  expect(gate.size).toBe(0);
});

test('of the logins waiting, those past the bound are refused and the first within it starts; the rest keep waiting', async () => {
  let now = 0;
  const gate = new OneLoginPerUser(8, { maxWaitMs: 10_000, heldUp, now: () => now });
  const started: string[] = [];
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((n) => held(started, n));
  const first = gate.run(1n, a!.decision, refusedAs);
  const old = gate.run(1n, b!.decision, refusedAs);
  now = 5_000;
  const recent = gate.run(1n, c!.decision, refusedAs);
  const last = gate.run(1n, d!.decision, refusedAs);
  now = 12_000;
  a!.settle();
  await first;
  expect(await old).toBe('refused: waited too long');
  await flush();
  expect(started).toEqual(['a', 'c']);
  c!.settle();
  expect(await recent).toBe('c');
  await flush();
  expect(started).toEqual(['a', 'c', 'd']);
  d!.settle();
  expect(await last).toBe('d');
  expect(gate.size).toBe(0);
});
