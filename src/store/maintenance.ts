import { sql } from 'kysely';
import type { Db } from './connect';

/**
 * After a bulk import the planner's statistics still describe the old, smaller tables until autovacuum
 * gets round to them (a minute or more); logins meanwhile would be planned as scans. Refresh them now.
 */
export async function refreshPlannerStatistics(db: Db): Promise<void> {
  await sql`ANALYZE app_user, token`.execute(db);
}
