import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { migrations } from '../../db';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { connect, type Connection } from '../../src/store/connect';
import { loadLoginData } from '../../src/store/login-data';
import { migrateToLatest } from '../../src/store/migrate';
import { createTestDatabase, tokenRepository, type TestDatabase } from '../support/test-database';

/*
 * Migration 0018 copies every sealed seed (and its fingerprint, 0012) from the token row into token_seed, in its own
 * transaction, and keeps the token row's as a legacy copy for older nodes (additive, db/index.ts). A site upgrading from the release before (every migration up to 0017)
 * keeps every token: each logs in with the codes of the seed it had, its replay state and its fingerprint are
 * kept, and a token deleted after the upgrade keeps its used codes used under its serial, as before.
 */
const BEFORE = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0018_token_seed'));
const keys = new KeyRing(masterKeyFromBytes(randomBytes(32)));

let pgdb: TestDatabase;
let conn: Connection;
beforeAll(async () => {
  pgdb = await createTestDatabase();
  conn = connect(pgdb.url, { poolSize: 2 });
});
afterAll(async () => {
  await conn?.close();
  await pgdb?.drop();
});

/** Tokens as the release before wrote them: the seed and its fingerprint in the token row. */
const before = [
  { serial: 'UP-HOTP', kind: 'hotp', state: 'active', counter: 7n, fingerprint: true },
  { serial: 'UP-TOTP', kind: 'totp', state: 'active', counter: 0n, fingerprint: true },
  { serial: 'UP-OLDNODE', kind: 'hotp', state: 'active', counter: 3n, fingerprint: false },
  { serial: 'UP-POOL', kind: 'hotp', state: 'unassigned', counter: 0n, fingerprint: true },
].map((t) => ({ ...t, seed: randomBytes(20) }));

test('a database of the release before, with tokens, upgrades and every token still logs in', async () => {
  await migrateToLatest(conn.db, BEFORE);
  for (const t of before) {
    const owner = t.state === 'active' ? (await sql<{ id: bigint }>`INSERT INTO app_user (username, method) VALUES (${t.serial.toLowerCase()}, 'token') RETURNING id`.execute(conn.db)).rows[0]!.id : null;
    await sql`
      INSERT INTO token (serial, user_id, origin, kind, state, seed_sealed, seed_fingerprint, next_counter)
      VALUES (${t.serial}, ${owner}, 'hardware', ${t.kind}, ${t.state}, ${keys.seal(t.seed, 'token-seed')}, ${t.fingerprint ? keys.fingerprint(t.seed) : null}, ${t.counter})`.execute(conn.db);
  }

  const { applied } = await migrateToLatest(conn.db);
  expect(applied).toEqual(Object.keys(migrations).filter((name) => !(name in BEFORE)));

  // additive: the token row keeps its seed, NOT NULL as before, for the nodes not yet upgraded, and token_seed holds
  // the same, for this release
  const columns = await sql<{ name: string; nullable: string }>`
    SELECT column_name AS name, is_nullable AS nullable FROM information_schema.columns WHERE table_name = 'token' AND column_name LIKE 'seed%' ORDER BY 1`.execute(conn.db);
  expect(columns.rows).toEqual([
    { name: 'seed_fingerprint', nullable: 'YES' },
    { name: 'seed_sealed', nullable: 'NO' },
  ]);
  const differ = await sql`SELECT t.serial FROM token t LEFT JOIN token_seed s ON s.token_id = t.id
    WHERE (t.seed_sealed, t.seed_fingerprint) IS DISTINCT FROM (s.seed_sealed, s.seed_fingerprint)`.execute(conn.db);
  expect(differ.rows).toEqual([]);

  const tokens = tokenRepository(conn, keys);
  for (const t of before) {
    expect({ serial: t.serial, seed: (await tokens.getWithSeed(t.serial)).seed }).toEqual({ serial: t.serial, seed: t.seed });
  }
  // the login cache's read, and a login's spend at the counter each token had
  for (const t of before.filter((b) => b.state === 'active')) {
    const username = t.serial.toLowerCase();
    const [token] = (await loadLoginData(conn.db, keys, [username])).get(username)!.tokens;
    expect({ serial: token!.serial, seed: token!.seed, next: token!.nextCounter }).toEqual({ serial: t.serial, seed: t.seed, next: t.counter });
    expect(await tokens.acceptCounter(token!, t.counter)).toBe(true);
  }
  // the fingerprints moved with the seeds: the same seed is still recognised, an older node's token still unknown
  const again = await tokens.existingSeeds(before.map((t) => ({ serial: t.serial, userId: null, origin: 'hardware', kind: 'hotp', state: 'unassigned', algorithm: 'sha1', digits: 6, seed: t.seed })));
  expect(Object.fromEntries(again)).toEqual({ 'UP-HOTP': 'same', 'UP-TOTP': 'same', 'UP-OLDNODE': 'unknown', 'UP-POOL': 'same' });

  // deleted after the upgrade and imported again with the same seed: it resumes past the codes it used (0012)
  const hotp = before[0]!;
  await tokens.delete(hotp.serial);
  expect(await sql`SELECT count(*)::int AS n FROM token_seed`.execute(conn.db).then((r) => r.rows)).toEqual([{ n: before.length - 1 }]);
  await tokens.create({ serial: hotp.serial, userId: null, origin: 'hardware', kind: 'hotp', state: 'unassigned', algorithm: 'sha1', digits: 6, seed: hotp.seed, counter: 0n });
  expect((await tokens.get(hotp.serial)).nextCounter).toBe(hotp.counter + 1n);
});
