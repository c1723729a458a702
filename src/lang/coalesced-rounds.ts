export interface CoalescedRounds {
  /**
   * Runs a round now, or, if one is running, once more after it (one follow-up for every request made
   * meanwhile). Resolves when a round that started after this request has ended; never rejects.
   */
  request(): Promise<void>;
  /** No round starts after this; resolves when the one running, if any, has ended. */
  stop(): Promise<void>;
}

/**
 * Rounds that never overlap and are never skipped when asked for mid-round. A round already running may have
 * read its data before the change that prompted the request was committed, so the request cannot be folded
 * into it: it gets a round of its own, shared with every other request made while the first ran. A round
 * handles its own errors (it knows what to log); one that rejects anyway is ignored.
 */
export function coalescedRounds(round: () => Promise<void>): CoalescedRounds {
  let running: Promise<void> | undefined;
  let followUp: Promise<void> | undefined;
  let stopped = false;
  const start = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    const current: Promise<void> = round()
      .catch(() => {})
      .finally(() => {
        if (running === current) running = undefined;
      });
    running = current;
    return current;
  };
  return {
    request() {
      if (followUp) return followUp;
      if (!running) return start();
      const next: Promise<void> = running.then(() => {
        followUp = undefined;
        return start();
      });
      followUp = next;
      return next;
    },
    async stop() {
      stopped = true;
      await running;
      await followUp;
    },
  };
}
