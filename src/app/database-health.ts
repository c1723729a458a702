import { repeatEvery } from '../lang/repeat';
import { databaseFailure, type LoginReadiness, type LoginTable } from '../store/connect';

/**
 * Why the database counts as down, for the log: each calls for a different look. 'pool exhausted': every
 * connection of the pool stayed busy through the check's wait, database.poolSize rather than the database.
 */
export type DownReason = 'unreachable' | 'no answer in time' | 'read-only' | 'locked' | 'pool exhausted';

/** What the warning says of each, where it is not the reason itself: where to look. */
const DOWN_TEXT: Partial<Record<DownReason, string>> = {
  'read-only': 'is read-only (a standby, or default_transaction_read_only)',
  'pool exhausted':
    'may answer, but every connection of the pool is busy (database.poolSize too small for the load, or statements held up: see radotp_database_connections and pg_stat_activity)',
};

/** Which table, so that the one on call looks for who holds that one (pg_locks has a row per table). */
const lockedText = (table: LoginTable) =>
  `answers, but another session holds the table ${table}, which logins write, locked (ALTER TABLE, VACUUM FULL, CREATE INDEX without CONCURRENTLY, LOCK TABLE: see pg_locks and pg_stat_activity)`;

/** The warning when the health check finds the database down; `table`: the login table found locked. */
export function downWarning(why: DownReason, table?: LoginTable): string {
  const what = why === 'locked' && table !== undefined ? lockedText(table) : (DOWN_TEXT[why] ?? why);
  return `database ${what}; Status-Server goes unanswered and /healthz is 503 until logins can be decided again`;
}

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
   * 'read-only', `{ locked }`: answers, but no login can be decided; a throw: unreachable, or the pool exhausted.
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
    const pinged = opts.ping(timeoutMs / 2).then(downFrom, (e: unknown): Down => ({ why: databaseFailure(e) === 'pool_exhausted' ? 'pool exhausted' : 'unreachable' }));
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
