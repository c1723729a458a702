import { repeatEvery } from '../lang/repeat';
import type { LoginReadiness, LoginTable } from '../store/connect';

/** Why the database counts as down, for the log: each calls for a different look. */
export type DownReason = 'unreachable' | 'no answer in time' | 'read-only' | 'locked';

interface Down {
  readonly why: DownReason;
  readonly table?: LoginTable;
}

function downFrom(readiness: LoginReadiness): Down | undefined {
  if (readiness === 'ready') return undefined;
  if (readiness === 'read-only') return { why: 'read-only' };
  return { why: 'locked', table: readiness.locked };
}

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
   * 'read-only', `{ locked }`: answers, but no login can be decided; a throw: unreachable.
   */
  ping: (lockWaitMs: number) => Promise<LoginReadiness>;
  /** `table`: for 'locked', the login table another session holds. */
  onChange?: (up: boolean, why?: DownReason, table?: LoginTable) => void;
  intervalMs?: number;
  timeoutMs?: number;
}): DatabaseHealth {
  let up = true;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const rounds = repeatEvery(opts.intervalMs ?? 2000, async () => {
    let expire: NodeJS.Timeout | undefined;
    const timedOut = new Promise<Down>((resolve) => (expire = setTimeout(() => resolve({ why: 'no answer in time' }), timeoutMs)));
    const pinged = opts.ping(timeoutMs / 2).then(downFrom, (): Down => ({ why: 'unreachable' }));
    const down = await Promise.race([pinged, timedOut]);
    clearTimeout(expire);
    const now = down === undefined;
    if (now !== up) {
      up = now;
      opts.onChange?.(now, down?.why, down?.table);
    }
  });
  return { up: () => up, stop: () => rounds.stop() };
}
