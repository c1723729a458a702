import { coalescedRounds } from '../../src/lang/coalesced-rounds';

/** A round that waits until the test lets it end, counting how many ran and how many at once. */
function gatedRound() {
  const seen = { started: 0, ended: 0, most: 0 };
  let running = 0;
  const gates: (() => void)[] = [];
  const round = async () => {
    seen.started++;
    running++;
    seen.most = Math.max(seen.most, running);
    await new Promise<void>((r) => gates.push(r));
    running--;
    seen.ended++;
  };
  const endOne = async () => {
    gates.shift()?.();
    for (let i = 0; i < 5; i++) await Promise.resolve(); // let the next round start, if one is due
  };
  return { seen, round, endOne };
}

describe('coalescedRounds (serve reloads its RADIUS clients this way: on each change heard, and on its poll)', () => {
  test('asked while a round runs: exactly one more round after it, however many asked, never two at once', async () => {
    const { seen, round, endOne } = gatedRound();
    const rounds = coalescedRounds(round);
    const first = rounds.request();
    // a change committed after the first round read the table: it must be read again, once for all of them
    const more = [rounds.request(), rounds.request(), rounds.request()];
    expect(seen).toEqual({ started: 1, ended: 0, most: 1 });
    await endOne();
    await first;
    expect(seen).toEqual({ started: 2, ended: 1, most: 1 });
    await endOne();
    await Promise.all(more);
    expect(seen).toEqual({ started: 2, ended: 2, most: 1 });
  });

  test('asked while the follow-up round runs: one more after that one too', async () => {
    const { seen, round, endOne } = gatedRound();
    const rounds = coalescedRounds(round);
    void rounds.request();
    void rounds.request();
    await endOne(); // the follow-up starts
    const late = rounds.request();
    await endOne();
    expect(seen.started).toBe(3);
    await endOne();
    await late;
    expect(seen).toEqual({ started: 3, ended: 3, most: 1 });
  });

  test('asked when idle: a round at once', async () => {
    const { seen, round, endOne } = gatedRound();
    const rounds = coalescedRounds(round);
    const one = rounds.request();
    await endOne();
    await one;
    const two = rounds.request();
    expect(seen.started).toBe(2);
    await endOne();
    await two;
  });

  test('a round that rejects does not stop the next, and its request resolves anyway', async () => {
    let calls = 0;
    const rounds = coalescedRounds(async () => {
      calls++;
      if (calls === 1) throw new Error('database away');
    });
    await expect(rounds.request()).resolves.toBeUndefined();
    await rounds.request();
    expect(calls).toBe(2);
  });

  test('stop() waits for the round in progress; no round starts after it, one asked for before it included', async () => {
    const { seen, round, endOne } = gatedRound();
    const rounds = coalescedRounds(round);
    void rounds.request();
    const queued = rounds.request();
    const stopped = rounds.stop();
    await endOne();
    await stopped;
    await queued;
    expect(seen).toEqual({ started: 1, ended: 1, most: 1 });
    await rounds.request();
    expect(seen.started).toBe(1);
  });
});
