import { sql } from 'kysely';
import type { Db } from './connect';
import { NotFoundError } from './errors';

/** What a password check needs to know before hashing anything. */
export interface PasswordState {
  /** The argon2id hash as it is now (null: no local password, or the user is gone). */
  readonly hash: string | null;
  /** Locked by wrong passwords until a moment still to come. */
  readonly locked: boolean;
  /** False when the user's row is gone (removed since the login found them). */
  readonly found: boolean;
  /** The user's method as it is now (null: the user is gone): a cache may still hold the one before. */
  readonly method: string | null;
}

export interface PasswordLock {
  readonly failures: number;
  /** Set while a lock is in force (an expired lock reads as none). */
  readonly lockedUntil: Date | null;
}

/**
 * Consecutive wrong passwords per user (migration 0007), shared by every node: the count is kept in
 * PostgreSQL and changed by single statements, so guesses spread over several nodes add up.
 * Reaching maxFailures locks the user's password for lockSeconds; a lock is never lengthened by the
 * attempts made while it holds (those are not checked at all), so a stranger typing a user's name
 * can keep them out for at most one lock period past their last burst. An expired lock starts the
 * count afresh, as a token's does (TokenRepository.recordFailure).
 */
export class PasswordLockoutRepository {
  constructor(private readonly db: Db) {}

  /** The hash, lock and method, read fresh at every login (never from a cache: see LocalPasswordFactor). */
  async state(userId: bigint): Promise<PasswordState> {
    const r = await sql<{ password_hash: string | null; locked: boolean | null; method: string }>`
      SELECT u.password_hash, l.locked_until > now() AS locked, u.method
      FROM app_user u LEFT JOIN password_lockout l ON l.user_id = u.id
      WHERE u.id = ${userId}`.execute(this.db);
    const row = r.rows[0];
    return { hash: row?.password_hash ?? null, locked: row?.locked === true, found: row !== undefined, method: row?.method ?? null };
  }

  /** Counts one wrong password; the failure that reaches maxFailures locks. A user deleted meanwhile counts nothing. */
  async recordFailure(userId: bigint, maxFailures: number, lockSeconds: number): Promise<void> {
    await sql`
      INSERT INTO password_lockout AS l (user_id, fail_count, locked_until, last_fail_at)
        SELECT id, 1, CASE WHEN 1 >= ${maxFailures}::int THEN now() + make_interval(secs => ${lockSeconds}) END, now()
        FROM app_user WHERE id = ${userId}
      ON CONFLICT (user_id) DO UPDATE SET
        -- the right-hand sides all read the row as it was (l)
        fail_count = CASE WHEN l.locked_until <= now() THEN 1 ELSE l.fail_count + 1 END,
        locked_until = CASE WHEN l.locked_until > now() THEN l.locked_until
                            WHEN (CASE WHEN l.locked_until <= now() THEN 1 ELSE l.fail_count + 1 END) >= ${maxFailures}::int
                              THEN now() + make_interval(secs => ${lockSeconds})
                            END,
        last_fail_at = now()`.execute(this.db);
  }

  /**
   * After a right password: clears the count, and says whether a lock holds after all. The state read
   * before hashing may be a few milliseconds old; guesses racing on other nodes may have locked the user
   * meanwhile, and the lock must win over a guess that happened to be right.
   */
  async settleSuccess(userId: bigint): Promise<{ locked: boolean }> {
    const r = await sql<{ locked: boolean }>`
      WITH cleared AS (
        DELETE FROM password_lockout WHERE user_id = ${userId} AND (locked_until IS NULL OR locked_until <= now()) RETURNING 1)
      SELECT EXISTS (SELECT 1 FROM password_lockout WHERE user_id = ${userId} AND locked_until > now()) AS locked`.execute(this.db);
    return { locked: r.rows[0]?.locked === true };
  }

  /** The failures and lock of the users who have any, by user id (for `user list` and `user show`). */
  async locks(userIds?: readonly bigint[]): Promise<Map<bigint, PasswordLock>> {
    if (userIds?.length === 0) return new Map();
    let q = this.db
      .selectFrom('password_lockout')
      .select(['user_id', 'fail_count', sql<Date | null>`CASE WHEN locked_until > now() THEN locked_until END`.as('locked_until')]);
    if (userIds) q = q.where('user_id', 'in', [...userIds]);
    const rows = await q.execute();
    return new Map(rows.map((r) => [r.user_id, { failures: r.fail_count, lockedUntil: r.locked_until }]));
  }

  /** Clears a user's failures and lock (`radotp user unlock`); false when there was nothing to clear. */
  async unlock(username: string): Promise<boolean> {
    const user = await this.db.selectFrom('app_user').select('id').where('username', '=', username).executeTakeFirst();
    if (!user) throw new NotFoundError(`no user named "${username}"`);
    const r = await this.db.deleteFrom('password_lockout').where('user_id', '=', user.id).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }
}
