import { repeatEvery } from '../lang/repeat';
import type { LoginReadiness } from '../store/connect';

/** Why the database counts as down, for the log: each calls for a different look. */
export type DownReason = 'unreachable' | 'no answer in time' | 'read-only' | 'locked';

export interface DatabaseHealth {
  /** Whether the last check reached the database in time. */
  up(): boolean;
  stop(): Promise<void>;
}

/**
 * Whether the database answers (takes writes, and its login tables are not locked: see loginReadiness), checked every `intervalMs` with one
 * query given `timeoutMs` (a database that hangs, rather than refusing connections, counts as down too). Read
 * per Status-Server and per /healthz probe: while it is down no login gets an answer, so neither should the
 * NAS's health probe.
 */
export function watchDatabaseHealth(opts: {
  /**
   * 'ready': answers, takes writes and the login tables can be locked within `lockWaitMs` (half the timeout);
   * 'read-only', 'locked': answers, but no login can be decided; a throw: unreachable.
   */
  ping: (lockWaitMs: number) => Promise<LoginReadiness>;
  onChange?: (up: boolean, why?: DownReason) => void;
  intervalMs?: number;
  timeoutMs?: number;
}): DatabaseHealth {
  let up = true;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const rounds = repeatEvery(opts.intervalMs ?? 2000, async () => {
    let expire: NodeJS.Timeout | undefined;
    const timedOut = new Promise<DownReason>((resolve) => (expire = setTimeout(() => resolve('no answer in time'), timeoutMs)));
    const pinged = opts.ping(timeoutMs / 2).then(
      (readiness): DownReason | undefined => (readiness === 'ready' ? undefined : readiness),
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
