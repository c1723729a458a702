import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { KeyRing } from '../../src/secrets/keyring';
import type { Db } from '../../src/store/connect';

/**
 * `count` users, each with an active HOTP token sealed under `keys`, inserted with SQL in large statements (a
 * site's tokens, quickly: 100 000 in seconds). The serials and usernames are `prefix` and a number. Each token is
 * someone's, as at a site. The token rows and their seed rows (token_seed, migration 0018) are two statements: callers
 * run this before anything reads them.
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
      INSERT INTO token (serial, user_id, origin, kind, state, algorithm, digits)
      SELECT u.username, u.id, 'hardware', 'hotp', 'active', 'sha1', 6 FROM app_user u WHERE u.username = ANY(${serials}::text[])`.execute(db);
    await sql`
      INSERT INTO token_seed (token_id, seed_sealed, seed_fingerprint)
      SELECT t.id, v.sealed, v.fingerprint
      FROM unnest(${serials}::text[], ${sealed}::bytea[], ${fingerprints}::bytea[]) AS v(serial, sealed, fingerprint)
      JOIN token t ON t.serial = v.serial`.execute(db);
  }
}

/** How many token seeds each key has sealed, as [key id in hex, count], by key id. */
export async function seedsByKey(db: Db): Promise<[string, number][]> {
  const { rows } = await sql<{ key_id: string; n: string }>`
    SELECT encode(substring(seed_sealed from 2 for 8), 'hex') AS key_id, count(*) AS n FROM token_seed GROUP BY 1 ORDER BY 1`.execute(db);
  return rows.map((r) => [r.key_id, Number(r.n)]);
}
