import { sql } from 'kysely';
import type { Db } from './connect';

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

export class AuditRepository {
  constructor(private readonly db: Db) {}

  /** One statement for the whole batch: ten arrays, not ten parameters per row (this runs on the login path). */
  async insertMany(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const col = <T>(f: (e: AuditEvent) => T) => events.map(f);
    await sql`
      INSERT INTO audit_event (at, node, client, client_address, username, result, reason, method, token_serial, detail)
      SELECT coalesce(at, now()), node, client, client_address, username, result, reason, method, token_serial, detail
      FROM unnest(
        ${col((e) => e.at ?? null)}::timestamptz[], ${col((e) => e.node)}::text[], ${col((e) => e.client ?? null)}::text[],
        ${col((e) => e.clientAddress ?? null)}::text[], ${col((e) => e.username ?? null)}::text[], ${col((e) => e.result)}::text[],
        ${col((e) => e.reason)}::text[], ${col((e) => e.method ?? null)}::text[], ${col((e) => e.tokenSerial ?? null)}::text[],
        ${col((e) => (e.detail ? JSON.stringify(e.detail) : null))}::jsonb[]
      ) AS e(at, node, client, client_address, username, result, reason, method, token_serial, detail)`.execute(this.db);
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
