import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { loadLoginData } from '../../src/store/login-data';
import { copyLegacySeeds } from '../../src/store/legacy-seed-copy';
import { rekeyAll } from '../../src/store/rekey';
import { insertSealedTokens } from '../support/sealed-tokens';
import { createMigratedDatabase, tokenRepository } from '../support/test-database';

/*
 * The measurement behind README's key rotation section, at a site's size: RADOTP_REKEY_SITE_TOKENS=100000 npx jest
 * test/store/rekey-spend-site.test.ts. Not in CI (it takes a minute, and the CPUs of whoever runs it). A rotation
 * runs for real while logins spend codes one after another, each of a token the rotation has re-sealed already or is
 * about to (lowest ids first, the order it re-seals in), then during the copy of the token rows' legacy copies
 * (copyLegacySeeds, same order); prints the rotation's time and the longest spend.
 * The deterministic check of the same thing, at 3 000 tokens, is rekey-spend.test.ts.
 */
const SITE_TOKENS = Number(process.env.RADOTP_REKEY_SITE_TOKENS ?? 0);
const measure = SITE_TOKENS > 0 ? test : test.skip;

measure(`at ${SITE_TOKENS} tokens, logins spend codes during a rotation without waiting for it`, async () => {
  const db = await createMigratedDatabase();
  try {
    const oldKey = new KeyRing(masterKeyFromBytes(randomBytes(32)));
    const newKey = new KeyRing(masterKeyFromBytes(randomBytes(32)));
    const node = new KeyRing(oldKey.current, [newKey.current]);
    await insertSealedTokens(db.conn.db, oldKey, SITE_TOKENS, 'SITE-');
    await sql`ANALYZE`.execute(db.conn.db);
    const tokens = tokenRepository(db.conn, node);

    let done = false;
    const started = performance.now();
    let copyStarted = started;
    // both parts of `keys rotate`: token_seed in one transaction, then the token rows' legacy copies in chunks
    const rotation = rekeyAll(db.conn.db, node, newKey)
      .then(async (result) => {
        copyStarted = performance.now();
        return { ...result, copied: await copyLegacySeeds(db.conn.db) };
      })
      .finally(() => (done = true));
    const waits: number[] = [];
    for (let i = 0; !done; i++) {
      const username = `SITE-${i}`;
      const token = (await loadLoginData(db.conn.db, node, [username])).get(username)!.tokens[0]!;
      const spendStarted = performance.now();
      expect(await tokens.acceptCounter(token, 0n)).toBe(true);
      waits.push(performance.now() - spendStarted);
      await new Promise((r) => setTimeout(r, 20));
    }
    const result = await rotation;
    const rotationMs = performance.now() - started;
    const longest = Math.max(...waits);
    process.stdout.write(
      `rotation of ${result.tokens} tokens: ${Math.round(rotationMs)} ms (of which the legacy copy ${Math.round(performance.now() - copyStarted)} ms); ` +
        `${waits.length} spends meanwhile, longest ${Math.round(longest)} ms\n`,
    );
    expect({ resealed: result.tokens, copied: result.copied }).toEqual({ resealed: SITE_TOKENS, copied: SITE_TOKENS });
    expect(longest).toBeLessThan(200);
  } finally {
    await db.close();
  }
}, 600_000);
