import { sql } from 'kysely';
import type { Db } from './connect';
import { markRekeying } from './rekey';

/** Token rows per transaction of the copy: each holds its rows a few milliseconds, well below a spend's lock wait. */
const CHUNK_SIZE = 500;

export interface LegacySeedCopyOptions {
  chunkSize?: number;
  /** Told after each chunk's commit how many copies were brought up to date so far. */
  onChunk?: (copied: number) => void;
}

/**
 * Brings the legacy copy of every seed (token.seed_sealed and seed_fingerprint, which releases before migration 0018
 * read) up to token_seed, which this release reads and `keys rotate` re-seals (rekeyAll). Run after the rotation's
 * commit, so that no seed stays sealed under the key being retired. Returns how many token rows it changed.
 *
 * WHY in chunks, each a short transaction of its own: a login's spend updates the token row, so one transaction over
 * every row would hold logins up for the whole copy, which is what moving the seed to token_seed avoids. A chunk
 * holds CHUNK_SIZE rows for milliseconds; interrupted, the chunks committed stay, and the next run (the next
 * `keys rotate`) goes on with the rows still differing. No crypto: the seed is copied as sealed.
 *
 * WHY lock first, then copy in a new statement: a writer of the same token (an older node importing it again, or
 * rotating by its own code) updates the token row, and its trigger (0018) token_seed, in its own transaction. A
 * single `UPDATE token ... FROM token_seed` that waited for that writer's row would, once it commits, re-check the
 * newer token row but join the token_seed row its snapshot had ("the second updater ... re-evaluate[s] its WHERE
 * clause using the updated version of the row", Transaction Isolation, Read Committed; the other tables' rows are
 * not re-read), and write the old seed over the writer's new one. Here the chunk's rows are locked first (FOR
 * UPDATE, in ascending id order, as every chunk takes them), and the copy is a NEW statement with a new snapshot: it
 * sees whatever a writer committed before the lock was granted, and no writer can change those rows until the commit.
 *
 * radotp.rekeying keeps the token table's triggers quiet for these statements: the change NOTIFY (nodes' caches
 * hold seeds opened, and a copy changes no seed) and the copy back into token_seed (it already holds this value).
 *
 * Two runs at once (a second `keys rotate` started during this one's copy) are safe: each copies what token_seed
 * holds at that moment, under the same row locks.
 */
export async function copyLegacySeeds(db: Db, opts: LegacySeedCopyOptions = {}): Promise<number> {
  const chunkSize = opts.chunkSize ?? CHUNK_SIZE;
  let copied = 0;
  let lastId = 0n;
  for (;;) {
    const chunk = await db.transaction().execute(async (tx) => {
      await markRekeying(tx, true);
      const { rows: locked } = await sql<{ id: bigint }>`
        SELECT t.id FROM token t JOIN token_seed s ON s.token_id = t.id
        WHERE t.id > ${lastId}::bigint AND (t.seed_sealed, t.seed_fingerprint) IS DISTINCT FROM (s.seed_sealed, s.seed_fingerprint)
        ORDER BY t.id LIMIT ${chunkSize}
        FOR UPDATE OF t`.execute(tx);
      if (locked.length === 0) return undefined;
      const ids = locked.map((r) => String(r.id));
      const changed = await sql`
        UPDATE token t SET seed_sealed = s.seed_sealed, seed_fingerprint = s.seed_fingerprint
        FROM token_seed s
        WHERE s.token_id = t.id AND t.id = ANY(${ids}::bigint[])
          AND (t.seed_sealed, t.seed_fingerprint) IS DISTINCT FROM (s.seed_sealed, s.seed_fingerprint)`.execute(tx);
      return { last: locked[locked.length - 1]!.id, changed: Number(changed.numAffectedRows ?? 0n) };
    });
    if (!chunk) return copied;
    copied += chunk.changed;
    lastId = BigInt(chunk.last);
    opts.onChunk?.(copied);
  }
}
