export interface Repeating {
  /** No more rounds; resolves when the one running, if any, has ended. */
  stop(): Promise<void>;
}

/**
 * Runs `round` every `intervalMs`, each round starting `intervalMs` after the previous one ended (rounds
 * never overlap), until stopped or until a round returns `'done'`. The timers do not keep the process alive.
 * A round handles its own errors (it knows what to log); one that rejects anyway ends the repetition.
 */
export function repeatEvery(intervalMs: number, round: () => Promise<void | 'done'>): Repeating {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = round().then(
        (result) => (result === 'done' ? void (stopped = true) : schedule()),
        () => void (stopped = true),
      );
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
