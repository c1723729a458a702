import { sql } from 'kysely';
import { SEALED_KEY_ID, type KeyRing } from '../secrets/keyring';
import type { Db } from './connect';
import { StoreConflictError } from './errors';
import { atomically } from './transaction';

/**
 * Advisory lock key of a rotation's transaction (an arbitrary constant, 'radotpKR'): two `keys rotate` at once would
 * lock the same rows in turn, the second re-sealing (to another key, perhaps) what the first had just re-sealed.
 * A transaction-level lock, not a session's: behind a pooler in transaction mode a session-level one may be released
 * on another server connection than the one that took it, and stay held (see session-pooling.ts). The legacy copy
 * that follows (copyLegacySeeds) runs outside it, in transactions of its own, and is safe to run twice at once.
 */
export const KEY_ROTATION_LOCK = 0x7261646f74704b52n;

/**
 * Sets radotp.rekeying for the rest of the transaction `tx` (migration 0018): while on, the token table's triggers
 * neither notify the nodes of a seed change nor copy it into token_seed (a rotation and its legacy copy change no seed).
 */
export async function markRekeying(tx: Db, on: boolean): Promise<void> {
  await sql`SELECT set_config('radotp.rekeying', ${on ? 'on' : 'off'}, true)`.execute(tx);
}

export interface RekeyResult {
  /** Client secrets and token seeds re-sealed by this run. */
  clients: number;
  tokens: number;
  /** Rows found already sealed under the target key (by an earlier run, or written by a node that seals with it). */
  alreadyUnderKey: number;
}

/** The key id inside a sealed column, as bytea. */
const keyIdOf = (column: 'secret_sealed' | 'seed_sealed') => sql<Buffer>`substring(${sql.ref(column)} from ${SEALED_KEY_ID.from} for ${SEALED_KEY_ID.length})`;

/**
 * Re-seals every secret at rest (client secrets, token seeds) not yet under `to.current`, in one
 * transaction: either every such row moves to the new key or none does. `from` must be able to open them.
 * Rows are locked as they are read, so no write to them is lost. Nodes still sealing with the old key
 * (their keyFile not yet switched) may write new rows under it after the commit; running this again
 * re-seals just those, which is how a roll-out is finished (see `radotp keys rotate --help`).
 *
 * Token seeds are token_seed rows (migration 0018), which no login writes: the rows held here until the commit are
 * never the token rows a login's spend updates, so logins go on during the rotation without waiting for it. The
 * token rows' legacy copies (for releases before 0018) are NOT re-sealed here: after the commit, copyLegacySeeds
 * brings them to token_seed in short chunks (`keys rotate` runs both). Nothing is notified to the nodes' login
 * caches (radotp.rekeying, see 0018): they hold the seeds opened, and a rotation leaves every seed as it was.
 */
export async function rekeyAll(db: Db, from: KeyRing, to: KeyRing): Promise<RekeyResult> {
  const target = to.current.id;
  return atomically(db, async (tx) => {
    const { rows: lock } = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${KEY_ROTATION_LOCK.toString()}::bigint) AS ok`.execute(tx);
    if (!lock[0]!.ok) throw new StoreConflictError('another `radotp keys rotate` is running: let it finish, then run this again if it is still needed');
    // this transaction's re-seals are not the seed changes 0018's triggers tell the nodes of (nor copy into token_seed:
    // this writes token_seed itself); undone below, so a caller's own seed changes later in the same transaction are
    // notified and copied as ever
    await markRekeying(tx, true);
    const clients = await tx
      .selectFrom('radius_client')
      .select(['id', 'secret_sealed'])
      .where(keyIdOf('secret_sealed'), '<>', target)
      .forUpdate()
      .execute();
    for (const c of clients) {
      const secret = from.open(c.secret_sealed, 'client-secret');
      await tx.updateTable('radius_client').set({ secret_sealed: to.seal(secret, 'client-secret') }).where('id', '=', c.id).execute();
    }
    let tokens = 0;
    let lastId = 0n;
    // in pages, so a pool of 100 000 hardware tokens does not sit in memory at once
    for (;;) {
      const page = await tx
        .selectFrom('token_seed')
        .select(['token_id as id', 'seed_sealed'])
        .where('token_id', '>', lastId)
        .where(keyIdOf('seed_sealed'), '<>', target)
        .orderBy('token_id')
        .limit(2000)
        .forUpdate()
        .execute();
      if (page.length === 0) break;
      const ids: string[] = [];
      const seeds: Buffer[] = [];
      const fingerprints: Buffer[] = [];
      for (const t of page) {
        ids.push(String(t.id));
        const seed = from.open(t.seed_sealed, 'token-seed');
        seeds.push(to.seal(seed, 'token-seed'));
        fingerprints.push(to.fingerprint(seed));
      }
      // The seed fingerprint (migration 0012) is made again under the new key, so a live token stays
      // comparable with a token inserted under its serial after the rotation (same seed or new?). A deleted
      // token's fingerprint cannot be (its seed is gone): it stays under the old key, which the database
      // treats as unknown, keeping the deleted token's used codes used. A token re-sealed here without one gets
      // one; a token already sealed under the new key is not re-sealed and keeps what it has (NULL: unknown, safe).
      await sql`
        UPDATE token_seed SET seed_sealed = v.seed, seed_fingerprint = v.fingerprint
        FROM unnest(${ids}::bigint[], ${seeds}::bytea[], ${fingerprints}::bytea[]) AS v(id, seed, fingerprint)
        WHERE token_seed.token_id = v.id`.execute(tx);
      tokens += page.length;
      lastId = page[page.length - 1].id;
    }
    await markRekeying(tx, false);
    const counts = await sealedCounts(tx);
    const alreadyUnderKey = counts.filter((c) => c.keyId === to.current.idHex).reduce((n, c) => n + c.clients + c.tokens, 0) - clients.length - tokens;
    return { clients: clients.length, tokens, alreadyUnderKey };
  });
}

export interface SealedCount {
  /** Hex id of the key that sealed these values. */
  keyId: string;
  clients: number;
  /** Token seeds (token_seed: what this release reads). */
  tokens: number;
  /**
   * Copies of token seeds kept in the token row for releases before migration 0018 (copyLegacySeeds brings them to
   * the key of token_seed after a rotation): a key still sealing one cannot be dropped, an older node reads it.
   */
  legacyTokenCopies: number;
}

/** How many client secrets and token seeds (and their legacy copies) each key has sealed: a key may be dropped once it counts none. */
export async function sealedCounts(db: Db): Promise<SealedCount[]> {
  const rows = await sql<{ key_id: string; clients: string; tokens: string; legacy: string }>`
    SELECT key_id, sum(clients) AS clients, sum(tokens) AS tokens, sum(legacy) AS legacy FROM (
      SELECT encode(${keyIdOf('secret_sealed')}, 'hex') AS key_id, 1 AS clients, 0 AS tokens, 0 AS legacy FROM radius_client
      UNION ALL
      SELECT encode(${keyIdOf('seed_sealed')}, 'hex'), 0, 1, 0 FROM token_seed
      UNION ALL
      SELECT encode(${keyIdOf('seed_sealed')}, 'hex'), 0, 0, 1 FROM token) AS sealed
    GROUP BY key_id ORDER BY key_id`.execute(db);
  return rows.rows.map((r) => ({ keyId: r.key_id, clients: Number(r.clients), tokens: Number(r.tokens), legacyTokenCopies: Number(r.legacy) }));
}
