export interface DatabaseHealth {
  /** Whether the last check reached the database in time. */
  up(): boolean;
  stop(): Promise<void>;
}

/**
 * Whether the database answers, checked every `intervalMs` (a `SELECT 1` given `timeoutMs`: a database that
 * hangs, rather than refusing connections, counts as down too). Read per Status-Server: while it is down no
 * login gets an answer, so neither should the NAS's health probe.
 */
export function watchDatabaseHealth(opts: {
  ping: () => Promise<boolean>;
  onChange?: (up: boolean) => void;
  intervalMs?: number;
  timeoutMs?: number;
}): DatabaseHealth {
  let up = true;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<void> = Promise.resolve();

  const check = async () => {
    let expire: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (expire = setTimeout(() => resolve(false), opts.timeoutMs ?? 2000)));
    const now = await Promise.race([opts.ping().catch(() => false), timedOut]);
    clearTimeout(expire);
    if (now !== up) {
      up = now;
      opts.onChange?.(now);
    }
    schedule();
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => (checking = check()), opts.intervalMs ?? 2000);
    timer.unref();
  };
  schedule();
  return {
    up: () => up,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await checking;
    },
  };
}
