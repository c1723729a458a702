import { repeatEvery } from '../lang/repeat';

export interface DatabaseHealth {
  /** Whether the last check reached the database in time. */
  up(): boolean;
  stop(): Promise<void>;
}

/**
 * Whether the database answers (and takes writes: see answersWritable), checked every `intervalMs` with one
 * query given `timeoutMs` (a database that hangs, rather than refusing connections, counts as down too). Read
 * per Status-Server and per /healthz probe: while it is down no login gets an answer, so neither should the
 * NAS's health probe.
 */
export function watchDatabaseHealth(opts: {
  ping: () => Promise<boolean>;
  onChange?: (up: boolean) => void;
  intervalMs?: number;
  timeoutMs?: number;
}): DatabaseHealth {
  let up = true;
  const rounds = repeatEvery(opts.intervalMs ?? 2000, async () => {
    let expire: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (expire = setTimeout(() => resolve(false), opts.timeoutMs ?? 2000)));
    const now = await Promise.race([opts.ping().catch(() => false), timedOut]);
    clearTimeout(expire);
    if (now !== up) {
      up = now;
      opts.onChange?.(now);
    }
  });
  return { up: () => up, stop: () => rounds.stop() };
}
