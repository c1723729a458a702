import { randomUUID } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import type { Db } from './connect';
import type { AuditEventTable } from './schema';
import type { PreparedStatement, StatementRunner } from './prepared';
import { countAuditEventsBefore, pruneAuditEvents, type PruneOptions, type PruneResult } from './audit-retention';

export interface AuditEvent {
  /**
   * When the decision was made, in Unix milliseconds (defaults to the insert time). A number rather
   * than a Date: the batch goes to PostgreSQL as JSON, and turning Dates into ISO text cost more than
   * the rest of each event.
   */
  at?: number;
  node: string;
  client?: string;
  clientAddress?: string;
  username?: string;
  result: string;
  reason: string;
  method?: string;
  tokenSerial?: string;
  detail?: Record<string, unknown>;
}

/**
 * An admin's action as the code making the change describes it: the writer adds the node and who ran it
 * (see adminAudit in cli/context.ts), and the result is `admin` unless the action decided something
 * itself (a code checked by `token verify`).
 */
export type AdminAuditEvent = Omit<AuditEvent, 'node' | 'result'> & { result?: string };
/** Writes the audit row of one admin action (in the transaction of the change, where there is one). */
export type AdminAuditWriter = (event: AdminAuditEvent) => Promise<void>;

export interface AuditRow extends Omit<AuditEvent, 'at'> {
  id: bigint;
  at: Date;
}

/**
 * The minute purge of batch ids older than a day. Its WHERE is what the index of migration 0013 serves, so
 * it reads the few old ids, not the day of them. Exported so the plan test checks this very statement.
 */
export function oldBatchIdsDeletion(db: Db) {
  return db.deleteFrom('audit_batch').where('written_at', '<', sql<Date>`now() - interval '1 day'`);
}

/**
 * One statement for a whole batch, the events as one JSON array: JSON.stringify is native, where ten
 * array parameters meant quoting every element in JavaScript (this runs once per ~500 logins, and
 * measured, the quoting was most of its cost in radotp). Absent fields are NULL. The batch's id is
 * recorded in the same statement, and a batch whose id is already there inserts nothing: sent again after
 * an answer that never came (see migration 0010), it lands once.
 */
const INSERT_EVENTS: PreparedStatement = {
  name: 'radotp_audit_insert_once',
  text: `WITH batch AS (INSERT INTO audit_batch (id) VALUES ($2::uuid) ON CONFLICT (id) DO NOTHING RETURNING id)
    INSERT INTO audit_event (at, node, client, client_address, username, result, reason, method, token_serial, detail)
    SELECT coalesce(to_timestamp(e.at / 1000.0), now()), e.node, e.client, e."clientAddress", e.username, e.result, e.reason, e.method, e."tokenSerial", e.detail
    FROM json_to_recordset($1::json) AS e(at float8, node text, client text, "clientAddress" text, username text,
      result text, reason text, method text, "tokenSerial" text, detail jsonb)
    WHERE EXISTS (SELECT 1 FROM batch)`,
};

export class AuditRepository {
  constructor(
    private readonly db: Db,
    private readonly run: StatementRunner,
  ) {}

  /**
   * Inserts a batch of events given as the JSON text of an array (the AuditWriter serializes each batch
   * once), unless a batch with this id was inserted already: a retry passes the id of its first attempt.
   */
  async insertJson(eventsJson: string, batchId: string = randomUUID()): Promise<void> {
    await this.run(INSERT_EVENTS, [eventsJson, batchId]);
  }

  /** Housekeeping: forgets batch ids older than a day (a retry comes within seconds; see migration 0010). */
  async forgetOldBatchIds(): Promise<number> {
    const r = await oldBatchIdsDeletion(this.db).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Deletes the events decided before `cutoff` (see pruneAuditEvents). */
  prune(cutoff: Date, opts?: PruneOptions): Promise<PruneResult> {
    return pruneAuditEvents(this.db, cutoff, opts);
  }

  /** How many events a prune at `cutoff` would delete. */
  countBefore(cutoff: Date): Promise<number> {
    return countAuditEventsBefore(this.db, cutoff);
  }

  /**
   * The latest events (of one user), newest first. Searched in growing windows back from now, each a
   * range scan of the BRIN index on `at` (see migration 0004), until enough rows are found: a question
   * about today reads today's pages only.
   */
  async recent(opts: { username?: string; limit?: number } = {}): Promise<AuditRow[]> {
    const limit = opts.limit ?? 50;
    for (const window of LOOK_BACK) {
      // by decision time: nodes write their events in batches, so ids interleave nodes by write time
      let q = this.db.selectFrom('audit_event').selectAll().orderBy('at', 'desc').orderBy('id', 'desc').limit(limit);
      // `audit --user ""` listed every user's events: an empty name is a name to match (a login that sent an empty User-Name)
      if (opts.username !== undefined) q = q.where('username', '=', opts.username);
      if (window !== null) q = q.where('at', '>=', sql<Date>`now() - ${window}::interval`);
      const rows = await q.execute();
      if (rows.length >= limit || window === null) return rows.map(toAuditRow);
    }
    return [];
  }
}

/** recent()'s windows, widest last (null: everything). */
const LOOK_BACK = ['1 hour', '1 day', '7 days', '31 days', '366 days', null] as const;

function toAuditRow(r: Selectable<AuditEventTable>): AuditRow {
  return {
    id: r.id,
    at: r.at,
    node: r.node,
    client: r.client ?? undefined,
    clientAddress: r.client_address ?? undefined,
    username: r.username ?? undefined,
    result: r.result,
    reason: r.reason,
    method: r.method ?? undefined,
    tokenSerial: r.token_serial ?? undefined,
    detail: r.detail ?? undefined,
  };
}
