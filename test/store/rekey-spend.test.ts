import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { loadLoginData } from '../../src/store/login-data';
import { copyLegacySeeds } from '../../src/store/legacy-seed-copy';
import { rekeyAll, sealedCounts } from '../../src/store/rekey';
import type { TokenRepository } from '../../src/store/tokens';
import { insertSealedTokens } from '../support/sealed-tokens';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * `radotp keys rotate` re-seals every token seed in ONE transaction (all or nothing), while the cluster serves
 * logins. A login's spend is a guarded UPDATE of its token row (SpendBatcher). With the sealed seed in the token
 * row, the rotation held every re-sealed row locked until its commit: measured at 100 000 tokens, a login whose
 * token had been re-sealed early waited ~10 s for that lock, past database.queryTimeout, and failed, along with
 * every spend batched with it. The seed now lives in token_seed (migration 0018), which no spend touches: row
 * locks are per row, so the rotation's never meet a spend's. The token rows keep a legacy copy of the seed for older
 * releases (0018 is additive), which the rotation's second part brings to the new key in chunks of short
 * transactions: a spend meeting one waits milliseconds.
 *
 * Deterministic: the rotation runs inside a transaction the test holds open after rekeyAll has re-sealed every seed
 * (atomically() joins the caller's transaction), so its locks are held exactly as at the last moment before its
 * commit, for as long as the test likes; no timer races the rotation.
 */
let db: MigratedDatabase;
const oldKey = new KeyRing(masterKeyFromBytes(randomBytes(32)));
const newKey = new KeyRing(masterKeyFromBytes(randomBytes(32)));
/** A node during the roll-out (step 2 of `keys rotate --help`): seals with the old key, opens both. */
const node = new KeyRing(oldKey.current, [newKey.current]);
let tokens: TokenRepository;

/** How long the test holds the rotation open before letting it commit. */
const HELD_MS = 1500;
/** A spend this fast did not wait for the rotation (it would have waited HELD_MS). */
const NO_WAIT_MS = 200;

beforeAll(async () => {
  db = await createMigratedDatabase();
  await insertSealedTokens(db.conn.db, oldKey, 3000, 'SITE-');
  await sql`ANALYZE`.execute(db.conn.db);
  tokens = tokenRepository(db.conn, node);
}, 60_000);

afterAll(async () => {
  await db?.close();
});

/** The user's one token as a node's login cache reads it (the read a login makes before its spend). */
async function loginToken(username: string) {
  const data = (await loadLoginData(db.conn.db, node, [username])).get(username);
  expect(data?.tokens).toHaveLength(1);
  return data!.tokens[0]!;
}

test('a login spending a code while a rotation holds every re-sealed seed does not wait for the rotation', async () => {
  // the first token the rotation re-seals (lowest id), and one late in its last page
  const [early, late] = [await loginToken('SITE-0'), await loginToken('SITE-2999')];
  let resealed!: () => void;
  const allResealed = new Promise<void>((r) => (resealed = r));
  let commit!: () => void;
  const held = new Promise<void>((r) => (commit = r));
  const rotation = db.conn.db.transaction().execute(async (tx) => {
    const result = await rekeyAll(tx, node, newKey);
    resealed();
    await held;
    return result;
  });
  await allResealed;
  const holding = setTimeout(commit, HELD_MS);
  try {
    const started = performance.now();
    const spent = await Promise.all([tokens.acceptCounter(early, 0n), tokens.acceptCounter(late, 0n)]);
    const waited = performance.now() - started;
    expect({ spent, waitedUnder: waited < NO_WAIT_MS ? NO_WAIT_MS : Math.round(waited) }).toEqual({ spent: [true, true], waitedUnder: NO_WAIT_MS });
  } finally {
    clearTimeout(holding);
    commit();
  }
  expect(await rotation).toEqual({ clients: 0, tokens: 3000, alreadyUnderKey: 0 });
  // all or nothing: every seed moved, and the spends made meanwhile are kept (the codes stay used)
  expect(await sealedCounts(db.conn.db)).toEqual(
    [
      { keyId: newKey.current.idHex, clients: 0, tokens: 3000, legacyTokenCopies: 0 },
      { keyId: oldKey.current.idHex, clients: 0, tokens: 0, legacyTokenCopies: 3000 },
    ].sort((a, b) => a.keyId.localeCompare(b.keyId)),
  );
  const after = await loginToken('SITE-0');
  expect({ next: after.nextCounter, seed: after.seed }).toEqual({ next: 1n, seed: early.seed });
  expect(await tokens.acceptCounter(after, 0n)).toBe(false);

  // The second part of `keys rotate`: the token rows' legacy copies (for releases before 0018) follow token_seed, in
  // chunks of short transactions, while logins go on spending codes of tokens in every chunk.
  const spenders = await Promise.all(Array.from({ length: 30 }, (_, i) => loginToken(`SITE-${1 + i * 100}`)));
  let copying = true;
  const copy = copyLegacySeeds(db.conn.db).finally(() => (copying = false));
  let longest = 0;
  let spends = 0;
  for (let counter = 0n; copying || spends === 0; counter++) {
    for (const t of spenders) {
      const started = performance.now();
      expect(await tokens.acceptCounter(t, counter)).toBe(true);
      longest = Math.max(longest, performance.now() - started);
      spends++;
    }
  }
  expect({ copied: await copy, longestSpendUnder: longest < NO_WAIT_MS ? NO_WAIT_MS : Math.round(longest) }).toEqual({ copied: 3000, longestSpendUnder: NO_WAIT_MS });
  expect(await sealedCounts(db.conn.db)).toEqual([{ keyId: newKey.current.idHex, clients: 0, tokens: 3000, legacyTokenCopies: 3000 }]);
}, 30_000);
