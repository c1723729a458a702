import { sql, type Migration } from 'kysely';
import { migrations } from '../../db';
import type { Db } from '../../src/store/connect';

/*
 * Other radotp releases, as the migration lists they would apply (with migrateToLatest(db, list)): what a
 * node of this release meets in a database it shares with nodes of other releases.
 */

export const KNOWN = Object.keys(migrations);
/** This release's last migration: the one a database of the release before lacks. */
export const LAST = KNOWN[KNOWN.length - 1]!;

const createTable = (name: string): Migration => ({ up: async (db) => void (await sql`CREATE TABLE ${sql.table(name)} (id int)`.execute(db)) });

/** The next release: every migration of this one, and one more. */
export const NEWER: Record<string, Migration> = { ...migrations, '0099_newer_table': createTable('newer_thing') };
/** The release before this one: without its last migration. */
export const OLDER: Record<string, Migration> = Object.fromEntries(Object.entries(migrations).filter(([name]) => name !== LAST));
/** Another line of radotp (a fork, a branch build): the release before, plus a migration this one does not know. */
export const OTHER_LINE: Record<string, Migration> = { ...OLDER, '0099_other_line': createTable('other_thing') };

export const NEWER_WARNING = 'the database schema is newer than this radotp (0099_newer_table): run the same version on every node';
export const DIVERGED =
  `the database schema has diverged from this radotp: it lacks ${LAST} and has 0099_other_line, which this radotp does not know; ` +
  'run the radotp that migrated it';

/** The migrations the database records as applied, by name; none when it has no migration table. */
export async function appliedMigrations(db: Db): Promise<string[]> {
  const found = await sql<{ found: boolean }>`SELECT to_regclass('radotp_migration') IS NOT NULL AS found`.execute(db);
  if (!found.rows[0]!.found) return [];
  const rows = await sql<{ name: string }>`SELECT name FROM radotp_migration ORDER BY name`.execute(db);
  return rows.rows.map((r) => r.name);
}
