import type { Db } from './connect';
import type { PreparedStatement, StatementRunner } from './prepared';

export interface AuditEvent {
  /** When the decision was made (defaults to the insert time). */
  at?: Date;
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

export interface AuditRow extends AuditEvent {
  id: bigint;
  at: Date;
}

/** One statement for a whole batch: ten arrays, not ten parameters per row (this runs on the login path). */
const INSERT_EVENTS: PreparedStatement = {
  name: 'radotp_audit_insert',
  text: `INSERT INTO audit_event (at, node, client, client_address, username, result, reason, method, token_serial, detail)
    SELECT coalesce(at, now()), node, client, client_address, username, result, reason, method, token_serial, detail
    FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::jsonb[])
      AS e(at, node, client, client_address, username, result, reason, method, token_serial, detail)`,
};

export class AuditRepository {
  constructor(
    private readonly db: Db,
    private readonly run: StatementRunner,
  ) {}

  async insertMany(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const col = <T>(f: (e: AuditEvent) => T) => events.map(f);
    await this.run(INSERT_EVENTS, [
      col((e) => e.at ?? null),
      col((e) => e.node),
      col((e) => e.client ?? null),
      col((e) => e.clientAddress ?? null),
      col((e) => e.username ?? null),
      col((e) => e.result),
      col((e) => e.reason),
      col((e) => e.method ?? null),
      col((e) => e.tokenSerial ?? null),
      col((e) => (e.detail ? JSON.stringify(e.detail) : null)),
    ]);
  }

  async recent(opts: { username?: string; limit?: number } = {}): Promise<AuditRow[]> {
    // by decision time: nodes write their events in batches, so ids interleave nodes by write time
    let q = this.db.selectFrom('audit_event').selectAll().orderBy('at', 'desc').orderBy('id', 'desc').limit(opts.limit ?? 50);
    if (opts.username) q = q.where('username', '=', opts.username);
    const rows = await q.execute();
    return rows.map((r) => ({
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
    }));
  }
}
