import { repeatEvery } from '../../src/lang/repeat';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('repeatEvery', () => {
  test('a round slower than the interval is never overlapped by the next (serve reloads its client table this way)', async () => {
    let running = 0;
    let most = 0;
    let rounds = 0;
    const job = repeatEvery(5, async () => {
      running++;
      most = Math.max(most, running);
      await sleep(30);
      running--;
      rounds++;
    });
    await sleep(200);
    await job.stop();
    expect(rounds).toBeGreaterThanOrEqual(2);
    expect(most).toBe(1);
  });

  test('stop() resolves once the round in progress has ended, and no round starts after it', async () => {
    let ended = 0;
    let started = 0;
    const job = repeatEvery(1, async () => {
      started++;
      await sleep(40);
      ended++;
    });
    await sleep(20); // inside the first round
    await job.stop();
    expect(ended).toBe(started);
    const after = started;
    await sleep(30);
    expect(started).toBe(after);
  });

  test("a round returning 'done' ends the repetition; one that rejects ends it too", async () => {
    for (const last of [async () => 'done' as const, async () => Promise.reject(new Error('unexpected'))]) {
      let rounds = 0;
      repeatEvery(1, async () => {
        rounds++;
        return rounds === 2 ? last() : undefined;
      });
      await sleep(60);
      expect(rounds).toBe(2);
    }
  });
});
