import { sql } from 'kysely';
import type { Db } from './connect';

/** Marker thrown to roll a dry run back after everything was checked. */
export class DryRunRollback extends Error {}

/**
 * Runs `fn` in a transaction of its own, or in the caller's when `db` already is one (kysely has no
 * nested transactions): a caller may then add its own writes, such as the audit row of an admin's
 * change, to the same commit.
 */
export function atomically<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

/**
 * Runs `fn` in one transaction (the caller's, when `db` is one; see atomically). With `dryRun`,
 * everything is done and checked, then rolled back: what the admin sees is exactly what a real run would do.
 */
export async function inTransaction<T>(db: Db, dryRun: boolean, fn: (tx: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction) {
    if (dryRun) throw new Error('a dry run needs a transaction of its own, to roll back');
    return fn(db);
  }
  let result: T | undefined;
  try {
    await db.transaction().execute(async (tx) => {
      result = await fn(tx);
      if (dryRun) throw new DryRunRollback();
    });
  } catch (e) {
    if (!(e instanceof DryRunRollback)) throw e;
  }
  return result as T;
}

/**
 * Runs `fn`, a statement that may fail, such that the caller can still use `db` afterwards: inside a
 * transaction a failed statement aborts it ("commands ignored until end of transaction block"), so
 * there it runs under a savepoint that is rolled back on failure, and the transaction goes on.
 */
export async function recoverable<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  if (!db.isTransaction) return fn();
  await sql`SAVEPOINT recoverable`.execute(db);
  try {
    const result = await fn();
    await sql`RELEASE SAVEPOINT recoverable`.execute(db);
    return result;
  } catch (e) {
    await sql`ROLLBACK TO SAVEPOINT recoverable`.execute(db);
    throw e;
  }
}
