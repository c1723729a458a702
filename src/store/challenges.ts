import crypto from 'node:crypto';
import { sql } from 'kysely';
import type pg from 'pg';
import type { Db } from './connect';
import { isForeignKeyViolation, UserRemovedError } from './errors';

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
const STATE_RANDOM_OCTETS = 16;
/** The octets of every State radotp issues (the prefix and 16 random ones). */
export const CHALLENGE_STATE_LENGTH = STATE_PREFIX.length + STATE_RANDOM_OCTETS;

/**
 * Whether a State attribute is one of ours. A NAS or a proxy in front of us may send a State of its own
 * (peers break on that: privacyidea/FreeRADIUS#65); such a request is a fresh login, not an answer.
 */
export function isOurState(state: Buffer): boolean {
  return state.length === CHALLENGE_STATE_LENGTH && state.subarray(0, STATE_PREFIX.length).equals(STATE_PREFIX);
}

/**
 * A challenge taken for an answer, held by this node until the answer is decided: deleted in a transaction
 * left open, so the row stays locked (another node's take of it waits) and comes back should this node die
 * or lose its connection before deciding. Exactly one of consume and release is called; neither rejects.
 */
export interface TakenChallenge {
  readonly challenge: PendingChallenge;
  /** The answer was decided (accepted or rejected): the challenge is used up. */
  consume(): Promise<void>;
  /** No decision came of the answer (no reply goes out): the NAS's retry, on any node, must find it again. */
  release(): Promise<void>;
}

interface ChallengeRow {
  state: Buffer;
  user_id: bigint;
  kind: string;
  data: Record<string, unknown>;
  node: string;
  expires_at: Date;
  live: boolean;
}

const TAKE = `DELETE FROM challenge WHERE state = $1 AND user_id = $2
  RETURNING state, user_id, kind, data, node, expires_at, expires_at > now() AS live`;

/**
 * Access-Challenge state lives in PostgreSQL, so the answer may reach any node of the cluster.
 * A challenge is single-use: `take` deletes it in the same statement that reads it, so two nodes
 * receiving the same answer cannot both proceed.
 */
export class ChallengeRepository {
  constructor(
    private readonly db: Db,
    /** Connections for takes, each held while its answer is decided (see Connection.challengePool). */
    private readonly answers: pg.Pool,
  ) {}

  /** A new challenge for the user; UserRemovedError when the user is gone (the challenge's only foreign key). */
  async issue(c: { userId: bigint; kind: string; data?: Record<string, unknown>; node: string; ttlSeconds: number }): Promise<Buffer> {
    const state = Buffer.concat([STATE_PREFIX, crypto.randomBytes(STATE_RANDOM_OCTETS)]);
    try {
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
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new UserRemovedError();
      throw e;
    }
    return state;
  }

  /**
   * Takes the challenge issued to `userId` for an answer: returns it if it existed and had not expired;
   * undefined otherwise. A State sent with another user's name takes nothing, so it cannot spoil the real
   * user's answer (RFC 2865 §5.24: State is opaque to the NAS; we bind it to the user). A node killed while
   * deciding (after its take, before its reply) must not take the challenge with it: the NAS fails over with
   * the same State, and only a decided answer uses it up (see TakenChallenge).
   */
  async take(state: Buffer, userId: bigint): Promise<TakenChallenge | undefined> {
    const client = await this.answers.connect();
    let row: ChallengeRow | undefined;
    try {
      await client.query('BEGIN');
      row = (await client.query<ChallengeRow>(TAKE, [state, String(userId)])).rows[0];
      if (!row?.live) await client.query('COMMIT'); // an expired one goes for good
    } catch (e) {
      client.release(e as Error); // its transaction's fate is PostgreSQL's: the pool must not reuse it
      throw e;
    }
    if (!row?.live) {
      client.release();
      return undefined;
    }
    const challenge: PendingChallenge = { state: row.state, userId: row.user_id, kind: row.kind, data: row.data, node: row.node, expiresAt: row.expires_at };
    let ended = false;
    const end = async (statement: 'COMMIT' | 'ROLLBACK') => {
      if (ended) return;
      ended = true;
      try {
        await client.query(statement);
        client.release();
      } catch (e) {
        // The connection broke: PostgreSQL rolled the take back, and the challenge is there for a retry.
        // A decided answer stands all the same: its code was spent, so that retry is refused as a replay,
        // unless it is the very packet sent again (TokenVerifier.retransmitted: answered as it was).
        client.release(e as Error);
      }
    };
    return { challenge, consume: () => end('COMMIT'), release: () => end('ROLLBACK') };
  }

  /** Whether a live challenge has this State (whoever it was issued to): tells a mismatched user from an expired State. */
  async isLive(state: Buffer): Promise<boolean> {
    const row = await this.db.selectFrom('challenge').select('state').where('state', '=', state).where('expires_at', '>', sql<Date>`now()`).executeTakeFirst();
    return row !== undefined;
  }

  /** Housekeeping: expired challenges nobody answered. */
  async purgeExpired(): Promise<number> {
    const r = await this.db.deleteFrom('challenge').where('expires_at', '<', sql<Date>`now()`).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
