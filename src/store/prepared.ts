import { CompiledQuery } from 'kysely';
import type pg from 'pg';
import { LOCK_NOT_AVAILABLE, postgresSqlstate, type Db } from './connect';

/**
 * A statement on the login path, run by name: each pooled connection parses it once and then binds and executes
 * it (PostgreSQL plans it for the parameters of its first five runs, and then keeps a generic plan unless those
 * custom plans looked cheaper on average; the spend pool takes the generic plan from the start, see GENERIC_PLANS
 * in connect.ts). Measured on a 25-row spend batch, planning was about a third of PostgreSQL's time for the
 * statement; the kysely query builder is skipped here for the same reason (its compile step runs per call).
 */
export interface PreparedStatement {
  /** Unique per statement text: pg caches the parsed statement per connection under this name. */
  readonly name: string;
  readonly text: string;
}

export type StatementRunner = <R extends object>(statement: PreparedStatement, values: unknown[]) => Promise<R[]>;

export function poolRunner(pool: pg.Pool): StatementRunner {
  return async <R extends object>(statement: PreparedStatement, values: unknown[]) => {
    const result = await pool.query<R>({ name: statement.name, text: statement.text, values });
    return result.rows;
  };
}

/**
 * The same statements run on `db` (a transaction's connection), unprepared: for the few admin commands
 * that write inside one transaction with their audit row, not for the login path.
 */
export function connectionRunner(db: Db): StatementRunner {
  return async <R extends object>(statement: PreparedStatement, values: unknown[]) => {
    const result = await db.executeQuery<R>(CompiledQuery.raw(statement.text, values));
    return result.rows;
  };
}

/**
 * `poolRunner` for the spend pool, keeping the connection when a statement's lock wait ran out (SQLSTATE 55P03,
 * lock_timeout: see SpendBatcher.execute). pg-pool's `query` closes the connection on any error; a lock wait that ran
 * out rolls the statement back and leaves the session as it was, and the spends sent again alone right after need
 * connections: each one closed there was opened anew (and its statements prepared anew) while the other users waited.
 * Any other error closes it as before (a lost connection, a timed-out statement still running, a read-only session).
 */
export function lockBoundedRunner(pool: pg.Pool): StatementRunner {
  return async <R extends object>(statement: PreparedStatement, values: unknown[]) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      return (await client.query<R>({ name: statement.name, text: statement.text, values })).rows;
    } catch (e) {
      if (postgresSqlstate(e) !== LOCK_NOT_AVAILABLE) broken = e instanceof Error ? e : new Error(String(e));
      throw e;
    } finally {
      client.release(broken);
    }
  };
}
