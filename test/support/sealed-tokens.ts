import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { KeyRing } from '../../src/secrets/keyring';
import type { Db } from '../../src/store/connect';

/**
 * `count` users, each with an active HOTP token sealed under `keys`, inserted with SQL in large statements (a
 * site's tokens, quickly: 100 000 in seconds). The serials and usernames are `prefix` and a number. Each token is
 * someone's, as at a site: a change of its sealed seed notifies the nodes (tokens:<user>). Written as every
 * release writes a seed, into the token row; migration 0018's trigger copies it into token_seed, which this release reads.
 */
export async function insertSealedTokens(db: Db, keys: KeyRing, count: number, prefix: string): Promise<void> {
  for (let from = 0; from < count; from += 10_000) {
    const n = Math.min(10_000, count - from);
    const serials: string[] = [];
    const sealed: Buffer[] = [];
    const fingerprints: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const seed = randomBytes(20);
      serials.push(`${prefix}${from + i}`);
      sealed.push(keys.seal(seed, 'token-seed'));
      fingerprints.push(keys.fingerprint(seed));
    }
    await sql`INSERT INTO app_user (username, method) SELECT unnest(${serials}::text[]), 'token'`.execute(db);
    await sql`
      INSERT INTO token (serial, user_id, origin, kind, state, algorithm, digits, seed_sealed, seed_fingerprint)
      SELECT v.serial, u.id, 'hardware', 'hotp', 'active', 'sha1', 6, v.sealed, v.fingerprint
      FROM unnest(${serials}::text[], ${sealed}::bytea[], ${fingerprints}::bytea[]) AS v(serial, sealed, fingerprint)
      JOIN app_user u ON u.username = v.serial`.execute(db);
  }
}

/**
 * How many token seeds each key has sealed, as [key id in hex, count], by key id: in token_seed (what this release
 * reads, migration 0018) or in the token row (the legacy copy older releases read).
 */
export async function seedsByKey(db: Db, table: 'token_seed' | 'token' = 'token_seed'): Promise<[string, number][]> {
  const { rows } = await sql<{ key_id: string; n: string }>`
    SELECT encode(substring(seed_sealed from 2 for 8), 'hex') AS key_id, count(*) AS n FROM ${sql.table(table)} GROUP BY 1 ORDER BY 1`.execute(db);
  return rows.map((r) => [r.key_id, Number(r.n)]);
}
