import type { AuditRow } from '../../src/store/audit';
import type { Store } from '../../src/store/open';

export interface AuditRowsOptions {
  /** Login decisions only: admin actions (`token verify`, `user set`, ...) name the admin and are left out. */
  readonly decisionsOnly?: boolean;
  /** How long to wait for `count` rows (default 3 s). */
  readonly timeoutMs?: number;
}

/**
 * A user's audit rows, newest first, once at least `count` are written: the audit writer batches every 50 ms, so
 * a row lands a little after the answer that it records. After `timeoutMs` it returns what is there, so that the
 * caller's assertion shows what was written instead of a timeout.
 */
export async function auditRowsOnceWritten(store: Pick<Store, 'audit'>, username: string, count: number, opts: AuditRowsOptions = {}): Promise<AuditRow[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 3000);
  for (;;) {
    const all = await store.audit.recent({ username, limit: Math.max(1000, count) });
    const rows = opts.decisionsOnly ? all.filter((r) => r.detail?.admin === undefined) : all;
    if (rows.length >= count || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 50));
  }
}
