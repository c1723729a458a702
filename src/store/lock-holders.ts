import pg from 'pg';
import { CONNECTION_WAIT_MS } from './connect';

/** A session holding a lock that one of ours waits for, as pg_stat_activity shows it (null: hidden from our role). */
export interface LockHolder {
  readonly pid: number;
  readonly application: string | null;
  /** 'idle in transaction' for a transaction left open, the usual culprit. */
  readonly state: string | null;
  /** When its transaction began. */
  readonly since: Date | null;
}

/**
 * The sessions holding the locks that the sessions named `applicationName` wait for (pg_blocking_pids: row, table
 * and advisory locks), other than those sessions themselves (one statement of a command briefly waiting on another's). PostgreSQL shows every role a session's pid; its application, state and transaction start
 * only to the same role, a superuser or pg_read_all_stats. On a connection of its own, opened for the question: the
 * command's pool may be all taken by what is waiting (a transaction and the spend inside it).
 */
export async function lockHolders(url: string, applicationName: string): Promise<LockHolder[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECTION_WAIT_MS, application_name: `${applicationName} (lock check)` });
  client.on('error', () => {}); // a connection lost meanwhile fails the query below
  await client.connect();
  try {
    const r = await client.query<LockHolder>(
      `SELECT DISTINCT h.pid, nullif(h.application_name, '') AS application, h.state, h.xact_start AS since
       FROM pg_stat_activity w
       CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid)
       JOIN pg_stat_activity h ON h.pid = b.pid
       WHERE w.application_name = $1 AND h.application_name IS DISTINCT FROM $1
       ORDER BY h.pid`,
      [applicationName],
    );
    return r.rows;
  } finally {
    await client.end().catch(() => {});
  }
}
