import crypto from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './connect';

export interface PendingChallenge {
  readonly state: Buffer;
  readonly userId: bigint;
  readonly kind: string;
  readonly data: Record<string, unknown>;
  readonly node: string;
  readonly expiresAt: Date;
}

/** A State value names our challenge; the prefix lets us tell our State from a foreign one at a glance. */
const STATE_PREFIX = Buffer.from('rotp');

/**
 * Whether a State attribute is one of ours. A NAS or a proxy in front of us may send a State of its own
 * (peers break on that: privacyidea/FreeRADIUS#65); such a request is a fresh login, not an answer.
 */
export function isOurState(state: Buffer): boolean {
  return state.length === STATE_PREFIX.length + 16 && state.subarray(0, STATE_PREFIX.length).equals(STATE_PREFIX);
}

/**
 * Access-Challenge state lives in PostgreSQL, so the answer may reach any node of the cluster.
 * A challenge is single-use: `take` deletes it in the same statement that reads it, so two nodes
 * receiving the same answer cannot both proceed.
 */
export class ChallengeRepository {
  constructor(private readonly db: Db) {}

  async issue(c: { userId: bigint; kind: string; data?: Record<string, unknown>; node: string; ttlSeconds: number }): Promise<Buffer> {
    const state = Buffer.concat([STATE_PREFIX, crypto.randomBytes(16)]);
    await this.db
      .insertInto('challenge')
      .values({
        state,
        user_id: c.userId,
        kind: c.kind,
        data: JSON.stringify(c.data ?? {}),
        node: c.node,
        expires_at: sql<Date>`now() + make_interval(secs => ${c.ttlSeconds})`,
      })
      .execute();
    return state;
  }

  /**
   * Consumes the challenge issued to `userId`: returns it if it existed and had not expired; undefined
   * otherwise. A State sent with another user's name consumes nothing, so it cannot spoil the real
   * user's answer (RFC 2865 §5.24: State is opaque to the NAS; we bind it to the user).
   */
  async take(state: Buffer, userId: bigint): Promise<PendingChallenge | undefined> {
    const row = await this.db
      .deleteFrom('challenge')
      .where('state', '=', state)
      .where('user_id', '=', userId)
      .returning(['state', 'user_id', 'kind', 'data', 'node', 'expires_at', sql<boolean>`expires_at > now()`.as('live')])
      .executeTakeFirst();
    if (!row || !row.live) return undefined;
    return { state: row.state, userId: row.user_id, kind: row.kind, data: row.data, node: row.node, expiresAt: row.expires_at };
  }

  /** Whether a live challenge has this State (whoever it was issued to): tells a mismatched user from an expired State. */
  async isLive(state: Buffer): Promise<boolean> {
    const row = await this.db.selectFrom('challenge').select('state').where('state', '=', state).where('expires_at', '>', sql<Date>`now()`).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Puts back a challenge taken for an answer that could not be decided (the database failed halfway):
   * the NAS retries, or fails over to another node, and the user's answer must still find its State.
   * Nothing was decided, so nothing is accepted twice; a code spent just before the failure is then a replay.
   */
  async restore(c: PendingChallenge): Promise<void> {
    await this.db
      .insertInto('challenge')
      .values({ state: c.state, user_id: c.userId, kind: c.kind, data: JSON.stringify(c.data), node: c.node, expires_at: c.expiresAt })
      .onConflict((oc) => oc.column('state').doNothing())
      .execute();
  }

  /** Housekeeping: expired challenges nobody answered. */
  async purgeExpired(): Promise<number> {
    const r = await this.db.deleteFrom('challenge').where('expires_at', '<', sql<Date>`now()`).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
