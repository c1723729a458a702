import { sql } from 'kysely';
import type { Db } from './connect';
import type { DisabledReason, TokenState } from './schema';
import { isUniqueViolation, NotFoundError, StoreConflictError } from './errors';
import { atomically } from './transaction';

export interface UserRecord {
  readonly id: bigint;
  readonly username: string;
  readonly passwordHash: string | null;
  readonly method: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * What a login needs of a user, and all that the servers' login cache keeps of one (as LoginToken is of a token):
 * the cache holds every user, so every field costs memory and garbage-collection work. No dates: none decides a login.
 */
export type LoginUser = Pick<UserRecord, 'id' | 'username' | 'passwordHash' | 'method'>;

export function toRecord(r: {
  id: bigint;
  username: string;
  password_hash: string | null;
  method: string;
  created_at: Date;
  updated_at: Date;
}): UserRecord {
  return {
    id: r.id,
    username: r.username,
    passwordHash: r.password_hash,
    method: r.method,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class UserRepository {
  constructor(private readonly db: Db) {}

  async add(u: { username: string; passwordHash: string | null; method: string }): Promise<UserRecord> {
    try {
      const row = await this.db
        .insertInto('app_user')
        .values({ username: u.username, password_hash: u.passwordHash, method: u.method })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toRecord(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw new StoreConflictError(`user "${u.username}" already exists`);
      throw e;
    }
  }

  async find(username: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('app_user').selectAll().where('username', '=', username).executeTakeFirst();
    return row && toRecord(row);
  }

  async get(username: string): Promise<UserRecord> {
    const u = await this.find(username);
    if (!u) throw new NotFoundError(`no user named "${username}"`);
    return u;
  }

  async list(): Promise<UserRecord[]> {
    const rows = await this.db.selectFrom('app_user').selectAll().orderBy('username').execute();
    return rows.map(toRecord);
  }

  async update(username: string, change: { passwordHash?: string | null; method?: string }): Promise<void> {
    const set: Record<string, unknown> = { updated_at: new Date() };
    if (change.passwordHash !== undefined) set.password_hash = change.passwordHash;
    if (change.method !== undefined) set.method = change.method;
    const r = await this.db.updateTable('app_user').set(set).where('username', '=', username).executeTakeFirst();
    if (r.numUpdatedRows === 0n) throw new NotFoundError(`no user named "${username}"`);
  }

  /**
   * Removes the user. Their software tokens go with them; hardware tokens go back to the pool
   * (their replay state kept), all in one transaction. Returns the serials of each kind, for the audit trail.
   */
  async remove(username: string): Promise<RemovedUserTokens> {
    return atomically(this.db, async (tx) => {
      const user = await tx.selectFrom('app_user').select('id').where('username', '=', username).forUpdate().executeTakeFirst();
      if (!user) throw new NotFoundError(`no user named "${username}"`);
      // Challenges first, before any token row is locked: a server deciding this user's answer holds the
      // challenge row (ChallengeRepository.take) while it spends the code on a token row. Deleted last (by
      // the cascade), after this transaction had locked the tokens, each side waited for the other, unseen
      // by PostgreSQL's deadlock detector, until the server's query timeout. Now the answer is decided
      // first, the user still there, and the removal goes on when that server lets the challenge go.
      await tx.deleteFrom('challenge').where('user_id', '=', user.id).execute();
      const deleted = await tx.deleteFrom('token').where('user_id', '=', user.id).where('origin', '=', 'software').returning('serial').execute();
      const unassigned = await tx
        .updateTable('token')
        .set({ user_id: null, state: sql<TokenState>`CASE WHEN state = 'disabled' THEN 'disabled' ELSE 'unassigned' END`, updated_at: new Date() })
        .where('user_id', '=', user.id)
        .returning(['serial', 'state', 'disabled_reason'])
        .execute();
      await tx.deleteFrom('app_user').where('id', '=', user.id).execute();
      return {
        deleted: deleted.map((r) => r.serial),
        unassigned: unassigned.map((r) => r.serial),
        stillDisabled: new Map(unassigned.flatMap((r) => (r.state === 'disabled' ? [[r.serial, r.disabled_reason] as const] : []))),
      };
    });
  }
}

/** What removing a user did to their tokens (see UserRepository.remove). */
export interface RemovedUserTokens {
  /** Software tokens, deleted with the user. */
  readonly deleted: readonly string[];
  /** Hardware tokens, back in the pool (a disabled one stays disabled). */
  readonly unassigned: readonly string[];
  /** Of those, the ones still disabled there, and why (lost, stolen...). */
  readonly stillDisabled: ReadonlyMap<string, DisabledReason | null>;
}
