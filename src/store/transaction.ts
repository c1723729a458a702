import type { Db } from './connect';

/** Marker thrown to roll a dry run back after everything was checked. */
export class DryRunRollback extends Error {}

/**
 * Runs `fn` in one transaction. With `dryRun`, everything is done and checked, then rolled back:
 * what the admin sees is exactly what a real run would do.
 */
export async function inTransaction<T>(db: Db, dryRun: boolean, fn: (tx: Db) => Promise<T>): Promise<T> {
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
