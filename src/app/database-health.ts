import { repeatEvery } from '../lang/repeat';
import { databaseFailure, postgresSqlstate, type LoginReadiness, type LoginTable } from '../store/connect';

/**
 * Why the database counts as down, for the log: each calls for a different look. 'pool exhausted': every
 * connection of the pool stayed busy through the check's wait, database.poolSize rather than the database.
 */
export type DownReason = 'unreachable' | 'refused' | 'no answer in time' | 'read-only' | 'locked' | 'pool exhausted';

/**
 * 'refused': PostgreSQL answered the check with an error of its own (it sent a SQLSTATE), such as too many
 * connections: that one was told as 'unreachable', and the one on call looked at the network while PostgreSQL
 * said what was wrong. What it said, and its SQLSTATE.
 */
export interface Refusal {
  readonly sqlstate: string;
  readonly err: string;
}

/** Where to look, for the refusals an operator meets (PostgreSQL's Appendix A, Error Codes). */
const REFUSAL_HINTS: Readonly<Record<string, string>> = {
  '53300': 'too many connections: max_connections taken by other clients, or a CONNECTION LIMIT on the role or database (see pg_stat_activity)',
  '53100': 'disk full: the database server has no room to write',
  '53200': 'out of memory on the database server',
  '57P03': 'the database server is starting up, shutting down or in recovery',
  '28P01': "radotp's role or its password in database.url was refused (see pg_hba.conf and the role)",
  '28000': "radotp's role was refused (see pg_hba.conf and the role)",
  '3D000': 'the database named in database.url does not exist',
};

/** The text of a refusal: PostgreSQL's words, its SQLSTATE, and where to look. */
function refusalText(r: Refusal | undefined): string {
  if (!r) return 'refuses this node';
  const hint = REFUSAL_HINTS[r.sqlstate];
  return `refuses this node: ${r.err} (SQLSTATE ${r.sqlstate}${hint ? `: ${hint}` : ''})`;
}

/** What the warning says of each, where it is not the reason itself: where to look. */
const DOWN_TEXT: Partial<Record<DownReason, string>> = {
  'read-only': 'is read-only (a standby, or default_transaction_read_only)',
  'pool exhausted':
    'may answer, but every connection of the pool is busy (database.poolSize too small for the load, or statements held up: see radotp_database_connections and pg_stat_activity)',
};

/** Which table, so that the one on call looks for who holds that one (pg_locks has a row per table). */
const lockedText = (table: LoginTable) =>
  `answers, but another session holds the table ${table}, which logins write, locked (ALTER TABLE, VACUUM FULL, CREATE INDEX without CONCURRENTLY, LOCK TABLE: see pg_locks and pg_stat_activity)`;

/** The warning when the health check finds the database down; `table`: the login table found locked; `refusal`: what PostgreSQL said. */
export function downWarning(why: DownReason, table?: LoginTable, refusal?: Refusal): string {
  const what = why === 'locked' && table !== undefined ? lockedText(table) : why === 'refused' ? refusalText(refusal) : (DOWN_TEXT[why] ?? why);
  return `database ${what}; Status-Server goes unanswered and /healthz is 503 until logins can be decided again`;
}

/**
 * The warning when another session holds the challenge table (a DBA's VACUUM FULL challenge, an ALTER TABLE on it):
 * only the logins asked for their code need it (its first step issues a challenge, its answer takes one), so the
 * node stays up. Every node shares the database and so the lock: down, every node would go down at once, and the
 * NASes fail over to no server that could do better, turning away the logins that can be decided.
 */
export function challengesHeldWarning(): string {
  return 'another session holds the table challenge locked (VACUUM FULL, ALTER TABLE, LOCK TABLE: see pg_locks and pg_stat_activity): logins asked for their code (loginStyle challenge, OCRA) wait out database.queryTimeout and go unanswered; otp-only and append logins, and password-only users, go on, so /healthz stays 200 and Status-Server is answered (every node shares the database: sending the NASes away from all of them would help none)';
}

interface Down {
  readonly why: DownReason;
  readonly table?: LoginTable;
  readonly refusal?: Refusal;
}

/**
 * A check that threw: the pool exhausted, PostgreSQL's refusal (it answered with a SQLSTATE), or unreachable. A
 * shutdown or crash of the server (class 57P: its sessions terminated) is the database going away, not a refusal.
 */
function downFromError(e: unknown): Down {
  if (databaseFailure(e) === 'pool_exhausted') return { why: 'pool exhausted' };
  const sqlstate = postgresSqlstate(e);
  if (sqlstate === undefined || sqlstate.startsWith('57P')) return { why: 'unreachable' };
  return { why: 'refused', refusal: { sqlstate, err: e instanceof Error ? e.message : String(e) } };
}

function downFrom(readiness: LoginReadiness): Down | undefined {
  if (readiness === 'ready' || challengesOnly(readiness)) return undefined;
  if (readiness === 'read-only') return { why: 'read-only' };
  return { why: 'locked', table: readiness.locked };
}

/** Of the login tables, only the challenge table is held (see challengesHeldWarning): the node stays up. */
const challengesOnly = (readiness: LoginReadiness | undefined): boolean => typeof readiness === 'object' && readiness.locked === 'challenge';

export interface DatabaseHealth {
  /** Whether the last check reached the database in time. */
  up(): boolean;
  /** Whether the last check found the challenge table, alone of the login tables, held by another session. */
  challengesHeld(): boolean;
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
  /** `table`: for 'locked', the login table another session holds; `refusal`: for 'refused', what PostgreSQL said. */
  onChange?: (up: boolean, why?: DownReason, table?: LoginTable, refusal?: Refusal) => void;
  /** The challenge table, alone of the login tables, is now held by another session (true), or no longer (false). */
  onChallengesHeld?: (held: boolean) => void;
  intervalMs?: number;
  timeoutMs?: number;
}): DatabaseHealth {
  let up = true;
  let challengesHeld = false;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const rounds = repeatEvery(opts.intervalMs ?? 2000, async () => {
    let expire: NodeJS.Timeout | undefined;
    const timedOut = new Promise<Down>((resolve) => (expire = setTimeout(() => resolve({ why: 'no answer in time' }), timeoutMs)));
    let readiness: LoginReadiness | undefined;
    const pinged = opts.ping(timeoutMs / 2).then(
      (r) => downFrom((readiness = r)),
      downFromError,
    );
    const down = await Promise.race([pinged, timedOut]);
    clearTimeout(expire);
    // told only from a check that answered: a database that is away says nothing of the table
    if (readiness !== undefined && challengesOnly(readiness) !== challengesHeld) {
      challengesHeld = !challengesHeld;
      opts.onChallengesHeld?.(challengesHeld);
    }
    const now = down === undefined;
    if (now !== up) {
      up = now;
      opts.onChange?.(now, down?.why, down?.table, down?.refusal);
    }
  });
  return { up: () => up, challengesHeld: () => challengesHeld, stop: () => rounds.stop() };
}
