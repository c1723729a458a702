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
  const gate = new OneLoginPerUser<bigint>(8);
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
  const gate = new OneLoginPerUser<bigint>(8);
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
  const gate = new OneLoginPerUser<bigint>(8);
  expect(gate.run(1n, () => 'now', busy)).toBe('now');
  expect(gate.run(1n, () => 'again', busy)).toBe('again');
  expect(gate.size).toBe(0);
});

test.each([
  { waiting: 0, extra: 1, refused: 1 },
  { waiting: 2, extra: 2, refused: 0 },
  { waiting: 2, extra: 5, refused: 3 },
])('with $waiting allowed to wait, $extra more logins during one in progress: $refused refused unchecked', async ({ waiting, extra, refused }) => {
  const gate = new OneLoginPerUser<bigint>(waiting);
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
  const gate = new OneLoginPerUser<bigint>(8);
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
