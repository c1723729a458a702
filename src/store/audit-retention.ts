import { sql } from 'kysely';
import type { Db } from './connect';
import { atomically } from './transaction';

/**
 * Advisory lock key of audit pruning (an arbitrary constant, 'radotpAP'): every node of a cluster runs
 * the same retention job, and one at a time is enough; the others find the lock taken and skip the round.
 */
export const AUDIT_PRUNE_LOCK = 0x7261646f74704150n;

export interface PruneResult {
  /** Rows deleted. */
  deleted: number;
  /** Stopped because another session held the pruning lock (a node's round, or `radotp audit prune`). */
  busy: boolean;
}

export interface PruneOptions {
  /** Rows looked at per statement (and, outside a caller's transaction, per commit). */
  batch?: number;
  /** Wait for a pruning lock held elsewhere instead of giving up the round (the CLI waits; nodes don't). */
  wait?: boolean;
  /** Checked before each batch: a node shutting down stops after the batch in progress (the rest waits for a later round). */
  signal?: Pick<AbortSignal, 'aborted'>;
}

/**
 * Deletes the audit events decided before `cutoff`.
 *
 * The trail is walked in id order (its primary key), `batch` rows at a time, each walk starting after
 * the last id seen: deleted rows are never scanned again, and each batch is a short transaction of its
 * own, so the logins' inserts never wait behind a long one. Ids follow write order and events are written
 * within moments of their decision, so the walk stops at the first batch holding an event at or after the
 * cutoff: everything past it is newer. An event written late (a node's backlog after a database outage)
 * sits among newer ids and goes in a later round, once its neighbours have aged past the cutoff too.
 *
 * Inside a caller's transaction (`radotp audit prune`, with its audit row) every batch runs in it and the
 * lock is held to its end: the rows go together with the row that says so, or not at all.
 */
export async function pruneAuditEvents(db: Db, cutoff: Date, opts: PruneOptions = {}): Promise<PruneResult> {
  const batch = opts.batch ?? 10_000;
  let deleted = 0;
  let after = '0';
  for (;;) {
    if (opts.signal?.aborted) return { deleted, busy: false };
    const step = await atomically(db, async (tx) => {
      if (!(await takeLock(tx, opts.wait ?? false))) return undefined;
      const { rows } = await sql<{ deleted: string; last: string | null; scanned: string; reached: boolean | null }>`
        WITH next AS (SELECT id, at FROM audit_event WHERE id > ${after}::bigint ORDER BY id LIMIT ${batch}),
             gone AS (DELETE FROM audit_event a USING next n WHERE a.id = n.id AND n.at < ${cutoff} RETURNING a.id)
        SELECT (SELECT count(*) FROM gone) AS deleted, (SELECT max(id) FROM next)::text AS last,
               (SELECT count(*) FROM next) AS scanned, (SELECT bool_or(at >= ${cutoff}) FROM next) AS reached`.execute(tx);
      return rows[0];
    });
    if (!step) return { deleted, busy: true };
    deleted += Number(step.deleted);
    if (step.reached || Number(step.scanned) < batch || step.last === null) return { deleted, busy: false };
    after = step.last;
  }
}

/** How many audit events were decided before `cutoff` (what a prune would delete, for a dry run). */
export async function countAuditEventsBefore(db: Db, cutoff: Date): Promise<number> {
  const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM audit_event WHERE at < ${cutoff}`.execute(db);
  return Number(rows[0].n);
}

/** The pruning lock for the rest of this transaction; false when another session holds it and `wait` is off. */
async function takeLock(tx: Db, wait: boolean): Promise<boolean> {
  if (wait) {
    await sql`SELECT pg_advisory_xact_lock(${AUDIT_PRUNE_LOCK.toString()}::bigint)`.execute(tx);
    return true;
  }
  const { rows } = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${AUDIT_PRUNE_LOCK.toString()}::bigint) AS ok`.execute(tx);
  return rows[0].ok;
}
