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

  async insertMany(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.db
      .insertInto('audit_event')
      .values(
        events.map((e) => ({
          ...(e.at ? { at: e.at } : {}),
          node: e.node,
          client: e.client ?? null,
          client_address: e.clientAddress ?? null,
          username: e.username ?? null,
          result: e.result,
          reason: e.reason,
          method: e.method ?? null,
          token_serial: e.tokenSerial ?? null,
          detail: e.detail ? JSON.stringify(e.detail) : null,
        })),
      )
      .execute();
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
