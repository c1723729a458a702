import { HELD_UP_STATEMENT_MS, SECOND_STATEMENT_AFTER_MS, SpendBatcher } from '../../src/store/spend-batcher';
import type { StatementRunner } from '../../src/store/prepared';

/*
 * When a spend statement goes out beside the one in flight (SpendBatcher.slotFree): not while that one is younger
 * than SECOND_STATEMENT_AFTER_MS (the spends arriving meanwhile wait and go together in the next, larger batch),
 * then beside it, at most maxInFlight (2) statements younger than HELD_UP_STATEMENT_MS. A fake runner holds each
 * statement until the test answers it; fake timers make the ages exact.
 */

interface Sent {
  /** The token ids the statement carries. */
  ids: string[];
  /** Answers it: every spend in it won. */
  answer(): void;
}

function fakeDatabase(): { run: StatementRunner; sent: Sent[] } {
  const sent: Sent[] = [];
  const run = (<R extends object>(_statement: unknown, values: unknown[]) =>
    new Promise<R[]>((resolve) => {
      const ids = String(values[0]).replace(/[{}]/g, '').split(',');
      sent.push({ ids, answer: () => resolve([{ ids: ids.join(',') }] as unknown as R[]) });
    })) as StatementRunner;
  return { run, sent };
}

/** Spends token `id`'s step for a user of the same id; resolves to whether it won. */
function spend(batcher: SpendBatcher, id: number): Promise<boolean> {
  return batcher.spendStep(BigInt(id), BigInt(id), 1, 0);
}

/** Lets the setImmediate that sends a turn's spends run, and the promises it settles. */
async function turn(ms = 0): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
}

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

test('a spend arriving while a young statement is in flight waits for it, then goes in one statement with the others that waited', async () => {
  const db = fakeDatabase();
  const batcher = new SpendBatcher(db.run);
  const first = spend(batcher, 1);
  await turn();
  expect(db.sent.map((s) => s.ids)).toEqual([['1']]);
  const waiting = [spend(batcher, 2), spend(batcher, 3)];
  await turn(SECOND_STATEMENT_AFTER_MS - 5);
  expect(db.sent).toHaveLength(1);
  db.sent[0]!.answer();
  await turn();
  expect(await first).toBe(true);
  expect(db.sent.map((s) => s.ids)).toEqual([['1'], ['2', '3']]);
  db.sent[1]!.answer();
  expect(await Promise.all(waiting)).toEqual([true, true]);
});

test('once the statement in flight is older than SECOND_STATEMENT_AFTER_MS, the spends waiting go beside it', async () => {
  const db = fakeDatabase();
  const batcher = new SpendBatcher(db.run);
  void spend(batcher, 1);
  await turn();
  void spend(batcher, 2);
  await turn(SECOND_STATEMENT_AFTER_MS - 1);
  expect(db.sent).toHaveLength(1);
  await turn(2);
  expect(db.sent.map((s) => s.ids)).toEqual([['1'], ['2']]);
});

/** Spends 1 and 2 in two statements in flight (the second sent beside the first once it turned slow), 3 waiting. */
async function twoInFlightOneWaiting(): Promise<{ db: ReturnType<typeof fakeDatabase>; batcher: SpendBatcher }> {
  const db = fakeDatabase();
  const batcher = new SpendBatcher(db.run);
  void spend(batcher, 1);
  await turn();
  void spend(batcher, 2);
  await turn(SECOND_STATEMENT_AFTER_MS + 1);
  void spend(batcher, 3);
  return { db, batcher };
}

test('a third statement waits while two are in flight, until one of them is held up (HELD_UP_STATEMENT_MS)', async () => {
  const { db } = await twoInFlightOneWaiting();
  await turn(HELD_UP_STATEMENT_MS - SECOND_STATEMENT_AFTER_MS - 10);
  expect(db.sent).toHaveLength(2);
  await turn(20);
  expect(db.sent.map((s) => s.ids)).toEqual([['1'], ['2'], ['3']]);
});

test('a statement that starts while the look-again timer waits for a later moment is still joined after SECOND_STATEMENT_AFTER_MS', async () => {
  const { db, batcher } = await twoInFlightOneWaiting();
  // two in flight, the second past SECOND_STATEMENT_AFTER_MS too: the next look is when the first turns held up
  await turn(SECOND_STATEMENT_AFTER_MS + 1);
  expect(db.sent).toHaveLength(2);
  db.sent[0]!.answer();
  db.sent[1]!.answer();
  await turn();
  expect(db.sent.map((s) => s.ids)).toEqual([['1'], ['2'], ['3']]);
  void spend(batcher, 4);
  await turn(SECOND_STATEMENT_AFTER_MS + 1);
  expect(db.sent.map((s) => s.ids)).toEqual([['1'], ['2'], ['3'], ['4']]);
});

test('a whole batch waiting goes beside a young statement at once: waiting would make no batch larger', async () => {
  const db = fakeDatabase();
  const maxBatch = 4;
  const batcher = new SpendBatcher(db.run, undefined, maxBatch);
  void spend(batcher, 1);
  await turn();
  for (let id = 2; id < 2 + maxBatch; id++) void spend(batcher, id);
  await turn();
  expect(db.sent.map((s) => s.ids)).toEqual([['1'], ['2', '3', '4', '5']]);
});

test('stats count each batch sent, the codes in it, and the time until it was decided', async () => {
  const db = fakeDatabase();
  const batcher = new SpendBatcher(db.run);
  const first = spend(batcher, 1);
  await turn();
  const waiting = [spend(batcher, 2), spend(batcher, 3)];
  await turn(15);
  db.sent[0]!.answer();
  await first;
  await turn();
  expect(batcher.stats).toMatchObject({ batches: 2, codes: 3 });
  expect(batcher.stats.seconds).toBeCloseTo(0.015, 6); // the second batch is not decided yet
  await turn(5);
  db.sent[1]!.answer();
  await Promise.all(waiting);
  await turn();
  expect(batcher.stats).toMatchObject({ batches: 2, codes: 3 });
  expect(batcher.stats.seconds).toBeCloseTo(0.02, 6);
});
