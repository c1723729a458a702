import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { migrations } from '../../db';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { connect } from '../../src/store/connect';
import { copyLegacySeeds } from '../../src/store/legacy-seed-copy';
import { loadLoginData } from '../../src/store/login-data';
import { migrateToLatest } from '../../src/store/migrate';
import { rekeyAll } from '../../src/store/rekey';
import { insertSealedTokens } from '../support/sealed-tokens';
import { createMigratedDatabase, createTestDatabase, tokenRepository } from '../support/test-database';

/*
 * Measurements at a site's size behind README's Key rotation and Upgrading sections: a benchmark, not part of the
 * suite (jest's testMatch takes *.test.ts only; these take a minute and the CPUs of whoever runs them). Run:
 *   RADOTP_SITE_TOKENS=100000 npx jest --testMatch '<rootDir>/test/**\/*.measure.ts' test/store/token-seed-site.measure.ts
 * The deterministic checks of the same things, at a few thousand tokens, are rekey-spend.test.ts and
 * token-seed-upgrade.test.ts, which CI runs.
 */
const SITE_TOKENS = Number(process.env.RADOTP_SITE_TOKENS ?? 100_000);
const BEFORE = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0018_token_seed'));
const keys = new KeyRing(masterKeyFromBytes(randomBytes(32)));

/*
 * A rotation runs for real while logins spend codes one after another, each of a token the rotation has re-sealed
 * already or is about to (lowest ids first, the order it re-seals in), then during the copy of the token rows' legacy
 * copies (copyLegacySeeds, same order); prints the rotation's time and the longest spend.
 */
test(`at ${SITE_TOKENS} tokens, logins spend codes during a rotation without waiting for it`, async () => {
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

/* How long the upgrade to 0018 holds the token table (ACCESS EXCLUSIVE: logins wait), for README's Upgrading. */
test(`at ${SITE_TOKENS} tokens, the upgrade to 0018 holds the token table briefly`, async () => {
  const site = await createTestDatabase();
  const siteConn = connect(site.url, { poolSize: 2 });
  try {
    await migrateToLatest(siteConn.db, BEFORE);
    const sealed = keys.seal(randomBytes(20), 'token-seed');
    await sql`INSERT INTO token (serial, origin, kind, state, seed_sealed, seed_fingerprint)
      SELECT 'SITE-' || g, 'hardware', 'hotp', 'unassigned', ${sealed}, ${keys.fingerprint(randomBytes(20))} FROM generate_series(1, ${SITE_TOKENS}) g`.execute(siteConn.db);
    await sql`ANALYZE token`.execute(siteConn.db);
    const started = performance.now();
    await migrateToLatest(siteConn.db);
    const ms = performance.now() - started;
    process.stdout.write(`upgrade of ${SITE_TOKENS} tokens to 0018: ${Math.round(ms)} ms\n`);
    expect(await sql`SELECT count(*)::int AS n FROM token_seed`.execute(siteConn.db).then((r) => r.rows)).toEqual([{ n: SITE_TOKENS }]);
  } finally {
    await siteConn.close();
    await site.drop();
  }
}, 600_000);
