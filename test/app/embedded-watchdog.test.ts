import { watchEmbeddedDatabase } from '../../src/app/embedded-watchdog';

/*
 * The server's own embedded PostgreSQL is checked every interval and started again when it has stopped;
 * one that came back on another port cannot be followed, and the server is told to stop.
 */
type State = 'running' | 'restarted' | 'moved' | Error;

/** Runs the watchdog until it has checked `checks` times (or has stopped on its own), then stops it. */
async function watch(states: State[], checks: number) {
  const log: string[] = [];
  const lost: string[] = [];
  let i = 0;
  const watchdog = watchEmbeddedDatabase({
    database: {
      revive: async () => {
        const s = states[Math.min(i++, states.length - 1)]!;
        if (s instanceof Error) throw s;
        return s;
      },
    },
    logger: { warn: (_o, m) => log.push(`warn: ${m}`), error: (_o, m) => log.push(`error: ${m}`) },
    onLost: (why) => lost.push(why),
    intervalMs: 5,
  });
  const deadline = Date.now() + 5000;
  while (i < checks && lost.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 30)); // a moved state must not be checked again
  await watchdog.stop();
  return { log, lost, checks: i };
}

test('running: nothing said', async () => {
  const w = await watch(['running'], 5);
  expect(w.log).toEqual([]);
  expect(w.lost).toEqual([]);
  expect(w.checks).toBeGreaterThanOrEqual(5);
});

test('restarted: said once', async () => {
  const w = await watch(['running', 'restarted', 'running'], 5);
  expect(w.log).toEqual(['warn: embedded PostgreSQL had stopped; it runs again']);
});

test('a start that fails is said once, retried, and its recovery said', async () => {
  const busy = new Error('pre-existing shared memory block is still in use');
  const w = await watch([busy, busy, busy, 'restarted', 'running'], 8);
  expect(w.log).toEqual([
    'error: embedded PostgreSQL has stopped and could not be started again yet; retrying',
    'warn: embedded PostgreSQL had stopped; it runs again',
  ]);
});

test('moved: the server is told why, and checks stop', async () => {
  const w = await watch(['running', 'moved', 'running'], 6);
  expect(w.lost).toEqual(['the embedded PostgreSQL was started again on another port']);
  expect(w.checks).toBe(2);
});
