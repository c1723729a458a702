import { repeatEvery } from '../lang/repeat';
import { databaseFailure, LOCK_MODE, PARTIAL_LOGIN_TABLES, postgresSqlstate, type LoginLockMode, type LoginReadiness, type LoginTable, type PartialLoginTable } from '../store/connect';

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
 * What holds a table against logins, by the lock logins take of it (LOCK_MODE): a write's (ROW EXCLUSIVE) waits for a
 * CREATE INDEX too, a read's (ACCESS SHARE, token_seed's) only for what takes ACCESS EXCLUSIVE.
 */
const HELD_BY: Readonly<Record<LoginLockMode, string>> = {
  'ROW EXCLUSIVE': 'VACUUM FULL, ALTER TABLE, CREATE INDEX without CONCURRENTLY, LOCK TABLE',
  'ACCESS SHARE': 'VACUUM FULL, ALTER TABLE, TRUNCATE, LOCK TABLE',
};

/** Which logins wait while another session holds the table, and which go on. */
const HELD_TEXT: Readonly<Record<PartialLoginTable, string>> = {
  challenge:
    'logins asked for their code (loginStyle challenge, OCRA) wait out database.queryTimeout and go unanswered; otp-only and append logins, and password-only users, go on',
  password_lockout:
    'logins that check a password (password-only users; token users in loginStyle challenge and append, at their password) wait out database.queryTimeout and go unanswered (database_timeout); otp-only logins, and answers to a challenge, go on',
  token_seed:
    "logins of token users not in this node's login cache (after a start, an admin's change, a user not seen yet) wait out database.queryTimeout and go unanswered, and so do enrollments and imports; cached users' logins go on",
};

/**
 * The warning when another session holds a table only some logins write (see PARTIAL_LOGIN_TABLES: a DBA's VACUUM
 * FULL challenge, a LOCK TABLE password_lockout, a long migration), so the node stays up. Every node shares the
 * database and so the lock: down, every node would go down at once, and the NASes fail over to no server that
 * could do better, turning away the logins that can be decided.
 */
export function heldWarning(table: PartialLoginTable): string {
  return `another session holds the table ${table} locked (${HELD_BY[LOCK_MODE[table]]}: see pg_locks and pg_stat_activity): ${HELD_TEXT[table]}, so /healthz stays 200 and Status-Server is answered (every node shares the database: sending the NASes away from all of them would help none)`;
}

/** The logins that wait while the table is held, in short (the all clear, the metric's help). */
export const WAITING_WHILE_HELD: Readonly<Record<PartialLoginTable, string>> = {
  challenge: 'logins asked for their code',
  password_lockout: 'logins that check a password',
  token_seed: "logins of token users not in the node's login cache",
};

/** The all clear after heldWarning. */
export function freeAgainNote(table: PartialLoginTable): string {
  return `the table ${table} is free again: ${WAITING_WHILE_HELD[table]} can be decided`;
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
  if (readiness === 'ready') return undefined;
  if (readiness === 'read-only') return { why: 'read-only' };
  if ('held' in readiness) return undefined; // see heldWarning: the node stays up
  return { why: 'locked', table: readiness.locked };
}

/** The tables only some logins write that a check found held; undefined: the check did not look at them. */
function heldIn(readiness: LoginReadiness | undefined): readonly PartialLoginTable[] | undefined {
  if (readiness === 'ready') return [];
  return typeof readiness === 'object' && 'held' in readiness ? readiness.held : undefined;
}

export interface DatabaseHealth {
  /** Whether the last check reached the database in time. */
  up(): boolean;
  /** Whether the last check that looked at it found `table` (one only some logins write) held by another session. */
  held(table: PartialLoginTable): boolean;
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
  /**
   * Up or down, and while down, a change of why (reason, table, SQLSTATE). `table`: for 'locked', the login table
   * another session holds; `refusal`: for 'refused', what PostgreSQL said.
   */
  onChange?: (up: boolean, why?: DownReason, table?: LoginTable, refusal?: Refusal) => void;
  /** `table` (one only some logins write, see heldWarning) is now held by another session (true), or no longer (false). */
  onHeld?: (table: PartialLoginTable, held: boolean) => void;
  intervalMs?: number;
  timeoutMs?: number;
  /** While down, how long before a reason told already in this outage is told again (see toldAt). Default 60 s. */
  retellAfterMs?: number;
  /** What retellAfterMs is measured by (a test's: the rounds). Default Date.now. */
  clock?: () => number;
}): DatabaseHealth {
  /**
   * Why the node is down, as last told; undefined while up, which is how up() is told (a fall and a return are
   * always told, so the two never disagree). A change of reason while down is told too: a failover
   * whose address moved to a standby first cut the connections (unreachable), then led to the standby (read-only),
   * and told only the first, the one on call looked for a network fault while the node sat on a standby.
   */
  let toldWhy: string | undefined;
  const up = (): boolean => toldWhy === undefined;
  /**
   * When each reason was last told in this outage. A database whose answer flaps between two reasons (no answer in
   * time, then the pool exhausted, round after round) was told every 2 s: a reason told already is told again only
   * after retellAfterMs, and then only if it is not the reason last told, so the log's last word on the outage
   * catches up with it once the flapping stops. The fall and the return are always told.
   */
  const toldAt = new Map<string, number>();
  const retellAfterMs = opts.retellAfterMs ?? 60_000;
  const clock = opts.clock ?? Date.now;
  const held = new Set<PartialLoginTable>();
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
    // told only from a check that looked at the tables: a database that is away, read-only or with token held (the
    // check stops there) says nothing of them
    const heldNow = heldIn(readiness);
    if (heldNow !== undefined) {
      for (const table of PARTIAL_LOGIN_TABLES) {
        const now = heldNow.includes(table);
        if (now === held.has(table)) continue;
        if (now) held.add(table);
        else held.delete(table);
        opts.onHeld?.(table, now);
      }
    }
    const now = down === undefined;
    const why = down && [down.why, down.table, down.refusal?.sqlstate].join('|');
    const toldLast = why === undefined ? undefined : toldAt.get(why);
    const fresh = toldLast === undefined || clock() - toldLast >= retellAfterMs;
    if (now !== up() || (why !== toldWhy && fresh)) {
      toldWhy = why;
      if (why === undefined) toldAt.clear();
      else toldAt.set(why, clock());
      opts.onChange?.(now, down?.why, down?.table, down?.refusal);
    }
  });
  return { up, held: (table) => held.has(table), stop: () => rounds.stop() };
}
