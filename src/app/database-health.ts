import { repeatEvery } from '../lang/repeat';

/** Why the database counts as down, for the log: each calls for a different look. */
export type DownReason = 'unreachable' | 'no answer in time' | 'read-only';

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
  /** true: answers and takes writes; false: answers but refuses writes (read-only); a throw: unreachable. */
  ping: () => Promise<boolean>;
  onChange?: (up: boolean, why?: DownReason) => void;
  intervalMs?: number;
  timeoutMs?: number;
}): DatabaseHealth {
  let up = true;
  const rounds = repeatEvery(opts.intervalMs ?? 2000, async () => {
    let expire: NodeJS.Timeout | undefined;
    const timedOut = new Promise<DownReason>((resolve) => (expire = setTimeout(() => resolve('no answer in time'), opts.timeoutMs ?? 2000)));
    const pinged = opts.ping().then(
      (writable): DownReason | undefined => (writable ? undefined : 'read-only'),
      (): DownReason => 'unreachable',
    );
    const why = await Promise.race([pinged, timedOut]);
    clearTimeout(expire);
    const now = why === undefined;
    if (now !== up) {
      up = now;
      opts.onChange?.(now, why);
    }
  });
  return { up: () => up, stop: () => rounds.stop() };
}
