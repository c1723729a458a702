import { sql } from 'kysely';
import type { KeyRing } from '../secrets/keyring';
import type { Db } from './connect';

export interface RekeyResult {
  clients: number;
  tokens: number;
}

/**
 * Re-seals every secret at rest (client secrets, token seeds) under `to.current`, in one transaction:
 * either every row moves to the new key or none does. `from` must be able to open every row.
 * Rows are locked as they are read, so a concurrent write cannot slip in an old-key value.
 */
export async function rekeyAll(db: Db, from: KeyRing, to: KeyRing): Promise<RekeyResult> {
  return db.transaction().execute(async (tx) => {
    const clients = await tx.selectFrom('radius_client').select(['id', 'secret_sealed']).forUpdate().execute();
    for (const c of clients) {
      const secret = from.open(c.secret_sealed, 'client-secret');
      await tx.updateTable('radius_client').set({ secret_sealed: to.seal(secret, 'client-secret') }).where('id', '=', c.id).execute();
    }
    let tokens = 0;
    let lastId = 0n;
    // in pages, so a pool of 100 000 hardware tokens does not sit in memory at once
    for (;;) {
      const page = await tx
        .selectFrom('token')
        .select(['id', 'seed_sealed'])
        .where('id', '>', lastId)
        .orderBy('id')
        .limit(2000)
        .forUpdate()
        .execute();
      if (page.length === 0) break;
      const ids: string[] = [];
      const seeds: Buffer[] = [];
      for (const t of page) {
        ids.push(String(t.id));
        seeds.push(to.seal(from.open(t.seed_sealed, 'token-seed'), 'token-seed'));
      }
      await sql`
        UPDATE token SET seed_sealed = v.seed
        FROM unnest(${ids}::bigint[], ${seeds}::bytea[]) AS v(id, seed)
        WHERE token.id = v.id`.execute(tx);
      tokens += page.length;
      lastId = page[page.length - 1].id;
    }
    return { clients: clients.length, tokens };
  });
}
