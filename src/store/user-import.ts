import { sql } from 'kysely';
import type { Db } from './connect';
import { refreshPlannerStatistics } from './maintenance';
import { inTransaction } from './transaction';

export interface ExistingUser {
  readonly id: bigint;
  readonly method: string;
  readonly passwordHash: string | null;
}

export interface ExistingToken {
  readonly serial: string;
  readonly state: string;
  readonly username: string | null;
  /** The end of its validity when that has passed by the database's clock (logins no longer use it), else null. */
  readonly expiredOn: Date | null;
}

/** The user rows to write (final values) and the token assignments, as computed by the importer. */
export interface UserImportWrite {
  readonly users: readonly { username: string; method: string; passwordHash: string | null }[];
  readonly assignments: readonly { serial: string; username: string }[];
}

const CHUNK = 5000;


/**
 * Bulk user import in ONE transaction: read what exists (locking referenced tokens), let `plan`
 * validate and decide (it throws to abort: nothing is written), then write users and assignments
 * with set-based statements. A dry run does all of it and rolls back.
 */
export async function importUsersInTransaction<T>(
  db: Db,
  usernames: readonly string[],
  serials: readonly string[],
  plan: (users: ReadonlyMap<string, ExistingUser>, tokens: ReadonlyMap<string, ExistingToken>) => Promise<UserImportWrite & { summary: T }>,
  opts: { dryRun: boolean; onWritten?: (n: number) => void },
): Promise<T> {
  const summary = await inTransaction(db, opts.dryRun, async (tx) => {
    const users = new Map<string, ExistingUser>();
    for (let i = 0; i < usernames.length; i += CHUNK) {
      const rows = await tx
        .selectFrom('app_user')
        .select(['id', 'username', 'method', 'password_hash'])
        .where('username', 'in', usernames.slice(i, i + CHUNK))
        .forUpdate()
        .execute();
      for (const r of rows) users.set(r.username, { id: r.id, method: r.method, passwordHash: r.password_hash });
    }
    const tokens = new Map<string, ExistingToken>();
    for (let i = 0; i < serials.length; i += CHUNK) {
      const rows = await tx
        .selectFrom('token')
        .leftJoin('app_user', 'app_user.id', 'token.user_id')
        .select(['token.serial', 'token.state', 'app_user.username'])
        .select(sql<Date | null>`CASE WHEN token.valid_to <= now() THEN token.valid_to END`.as('expired_on'))
        // the serials as typed, and those equal to them ignoring case (the importer picks: see planUserImport)
        .where(sql<boolean>`lower(token.serial) IN (SELECT lower(s) FROM unnest(${serials.slice(i, i + CHUNK)}::text[]) AS s)`)
        .forUpdate(['token'])
        .execute();
      for (const r of rows) tokens.set(r.serial, { serial: r.serial, state: r.state, username: r.username, expiredOn: r.expired_on });
    }
    const write = await plan(users, tokens);
    for (let i = 0; i < write.users.length; i += CHUNK) {
      const chunk = write.users.slice(i, i + CHUNK);
      await sql`
        INSERT INTO app_user (username, method, password_hash)
        SELECT * FROM unnest(${chunk.map((u) => u.username)}::text[], ${chunk.map((u) => u.method)}::text[], ${chunk.map((u) => u.passwordHash)}::text[])
        ON CONFLICT (username) DO UPDATE SET method = EXCLUDED.method, password_hash = EXCLUDED.password_hash, updated_at = now()`.execute(tx);
      opts.onWritten?.(chunk.length);
    }
    for (let i = 0; i < write.assignments.length; i += CHUNK) {
      const chunk = write.assignments.slice(i, i + CHUNK);
      await sql`
        UPDATE token SET user_id = u.id, state = 'active', updated_at = now()
        FROM unnest(${chunk.map((a) => a.serial)}::text[], ${chunk.map((a) => a.username)}::text[]) AS v(serial, username)
        JOIN app_user u ON u.username = v.username
        WHERE token.serial = v.serial`.execute(tx);
    }
    return write.summary;
  });
  if (!opts.dryRun) await refreshPlannerStatistics(db);
  return summary;
}
