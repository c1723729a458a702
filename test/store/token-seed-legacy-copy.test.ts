import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { copyLegacySeeds } from '../../src/store/legacy-seed-copy';
import { loadLoginData } from '../../src/store/login-data';
import { rekeyAll, sealedCounts } from '../../src/store/rekey';
import type { TokenRepository } from '../../src/store/tokens';
import { insertSealedTokens, seedsByKey } from '../support/sealed-tokens';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * Migration 0018 is additive (db/index.ts): during a rolling upgrade, nodes of the release before it keep serving
 * from the new schema, reading and writing the seed in the token row (token.seed_sealed, seed_fingerprint) with
 * plain SQL as below. This release reads token_seed. Both copies must agree after every writer's transaction, and a
 * rotation must leave neither under the key being retired.
 */
let db: MigratedDatabase;
const oldKey = new KeyRing(masterKeyFromBytes(randomBytes(32)));
const newKey = new KeyRing(masterKeyFromBytes(randomBytes(32)));
/** A node during the roll-out (step 2 of `keys rotate --help`): seals with the old key, opens both. */
const node = new KeyRing(oldKey.current, [newKey.current]);
let tokens: TokenRepository;

beforeAll(async () => {
  db = await createMigratedDatabase();
  tokens = tokenRepository(db.conn, node);
}, 60_000);

afterAll(async () => {
  await db?.close();
});

/** An older release's enrollment: its TokenRepository.toInsertRow, as plain SQL. */
async function insertAsOlderRelease(serial: string, seed: Buffer): Promise<void> {
  const { rows } = await sql<{ id: bigint }>`INSERT INTO app_user (username, method) VALUES (${serial.toLowerCase()}, 'token') RETURNING id`.execute(db.conn.db);
  await sql`
    INSERT INTO token (serial, user_id, origin, kind, state, algorithm, digits, seed_sealed, seed_fingerprint)
    VALUES (${serial}, ${rows[0]!.id}, 'hardware', 'hotp', 'active', 'sha1', 6, ${oldKey.seal(seed, 'token-seed')}, ${oldKey.fingerprint(seed)})`.execute(db.conn.db);
}

/** What an older release reads: the seed in the token row, opened. */
async function seedAsOlderRelease(serial: string): Promise<{ seed: Buffer; fingerprint: Buffer | null }> {
  const { rows } = await sql<{ seed_sealed: Buffer; seed_fingerprint: Buffer | null }>`SELECT seed_sealed, seed_fingerprint FROM token WHERE serial = ${serial}`.execute(db.conn.db);
  return { seed: node.open(rows[0]!.seed_sealed, 'token-seed'), fingerprint: rows[0]!.seed_fingerprint };
}

/** Rows whose two copies of the seed differ: none, after every writer's transaction and after a rotation. */
async function copiesThatDiffer(): Promise<string[]> {
  const { rows } = await sql<{ serial: string }>`
    SELECT t.serial FROM token t LEFT JOIN token_seed s ON s.token_id = t.id
    WHERE (t.seed_sealed, t.seed_fingerprint) IS DISTINCT FROM (s.seed_sealed, s.seed_fingerprint) ORDER BY t.serial`.execute(db.conn.db);
  return rows.map((r) => r.serial);
}

describe('an older release serving from the 0018 schema', () => {
  test('a token it enrolls (plain SQL into token.seed_sealed) logs in through this release', async () => {
    const seed = randomBytes(20);
    await insertAsOlderRelease('OLD-ENROLLED', seed);
    const [token] = (await loadLoginData(db.conn.db, node, ['old-enrolled'])).get('old-enrolled')!.tokens;
    expect({ serial: token?.serial, seed: token?.seed }).toEqual({ serial: 'OLD-ENROLLED', seed });
    expect((await tokens.getWithSeed('OLD-ENROLLED')).seed).toEqual(seed);
    expect(await copiesThatDiffer()).toEqual([]);
  });

  test('a token this release enrolls is read by it from token.seed_sealed, with its fingerprint', async () => {
    const seed = randomBytes(20);
    await tokens.create({ serial: 'NEW-ENROLLED', userId: null, origin: 'hardware', kind: 'hotp', state: 'unassigned', algorithm: 'sha1', digits: 6, seed });
    await tokens.insertMany([{ serial: 'NEW-IMPORTED', userId: null, origin: 'hardware', kind: 'hotp', state: 'unassigned', algorithm: 'sha1', digits: 6, seed }]);
    for (const serial of ['NEW-ENROLLED', 'NEW-IMPORTED']) expect({ serial, ...(await seedAsOlderRelease(serial)) }).toEqual({ serial, seed, fingerprint: node.fingerprint(seed) });
    expect(await copiesThatDiffer()).toEqual([]);
  });

  test("its own seed change (plain SQL UPDATE of token.seed_sealed) is what this release's logins use", async () => {
    const seed = randomBytes(20);
    await insertAsOlderRelease('OLD-CHANGED', randomBytes(20));
    await sql`UPDATE token SET seed_sealed = ${oldKey.seal(seed, 'token-seed')}, seed_fingerprint = ${oldKey.fingerprint(seed)} WHERE serial = 'OLD-CHANGED'`.execute(db.conn.db);
    expect((await tokens.getWithSeed('OLD-CHANGED')).seed).toEqual(seed);
    expect(await copiesThatDiffer()).toEqual([]);
  });
});

describe('keys rotate with legacy copies', () => {
  /** The key ids of every seed, in token_seed and in the token rows, and which seeds differ between the two. */
  const where = async () => ({ tokenSeed: await seedsByKey(db.conn.db), token: await seedsByKey(db.conn.db, 'token'), differ: await copiesThatDiffer() });

  test('a rotation leaves no seed under the old key, in token_seed or the token row; an interrupted copy is finished by the next run', async () => {
    await insertSealedTokens(db.conn.db, oldKey, 1200, 'ROT-');
    const total = Number((await sql<{ n: string }>`SELECT count(*) AS n FROM token`.execute(db.conn.db)).rows[0]!.n);

    const result = await rekeyAll(db.conn.db, node, newKey);
    expect(result).toEqual({ clients: 0, tokens: total, alreadyUnderKey: 0 });
    // the copy, interrupted after its first chunk (a lost connection, a killed command)
    let chunks = 0;
    const interrupted = copyLegacySeeds(db.conn.db, {
      chunkSize: 500,
      onChunk: () => {
        if (++chunks === 1) throw new Error('interrupted');
      },
    });
    await expect(interrupted).rejects.toThrow('interrupted');
    const left = total - 500;
    expect(await where()).toEqual({ tokenSeed: [[newKey.current.idHex, total]], token: [[oldKey.current.idHex, left], [newKey.current.idHex, 500]].sort(), differ: expect.any(Array) });
    // keys status counts the legacy copies: the old key still seals some, and must not be removed yet
    expect(await sealedCounts(db.conn.db)).toEqual(
      [
        { keyId: oldKey.current.idHex, clients: 0, tokens: 0, legacyTokenCopies: left },
        { keyId: newKey.current.idHex, clients: 0, tokens: total, legacyTokenCopies: 500 },
      ].sort((a, b) => a.keyId.localeCompare(b.keyId)),
    );

    // the next `keys rotate`: nothing left to re-seal, and the copy goes on from where it was
    expect(await rekeyAll(db.conn.db, node, newKey)).toEqual({ clients: 0, tokens: 0, alreadyUnderKey: total });
    expect(await copyLegacySeeds(db.conn.db)).toBe(left);
    expect(await where()).toEqual({ tokenSeed: [[newKey.current.idHex, total]], token: [[newKey.current.idHex, total]], differ: [] });
    expect(await sealedCounts(db.conn.db)).toEqual([{ keyId: newKey.current.idHex, clients: 0, tokens: total, legacyTokenCopies: total }]);
    // an older node holding the new key reads the seed it had
    const [first] = (await loadLoginData(db.conn.db, node, ['old-enrolled'])).get('old-enrolled')!.tokens;
    expect((await seedAsOlderRelease('OLD-ENROLLED')).seed).toEqual(first!.seed);
  }, 60_000);

  test('the copy never overwrites a seed an older node writes meanwhile: it waits for that row, then copies nothing over it', async () => {
    const rewritten = randomBytes(20);
    await insertSealedTokens(db.conn.db, oldKey, 3, 'RACE-');
    await rekeyAll(db.conn.db, node, newKey);
    // an older node (sealing with the old key) re-imports RACE-1 and has not committed yet
    const olderNode = new pg.Client({ connectionString: db.url });
    await olderNode.connect();
    try {
      await olderNode.query('BEGIN');
      await olderNode.query(`UPDATE token SET seed_sealed = $1, seed_fingerprint = $2 WHERE serial = 'RACE-1'`, [oldKey.seal(rewritten, 'token-seed'), oldKey.fingerprint(rewritten)]);
      const copy = copyLegacySeeds(db.conn.db, { chunkSize: 500 });
      // the copy is waiting for RACE-1's row
      const deadline = Date.now() + 10_000;
      while ((await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`.execute(db.conn.db)).rows[0]!.n === 0) {
        if (Date.now() > deadline) throw new Error('the copy never waited for the held row');
        await new Promise((r) => setTimeout(r, 10));
      }
      await olderNode.query('COMMIT');
      await copy;
    } finally {
      await olderNode.end();
    }
    expect({ olderRelease: (await seedAsOlderRelease('RACE-1')).seed, thisRelease: (await tokens.getWithSeed('RACE-1')).seed }).toEqual({ olderRelease: rewritten, thisRelease: rewritten });
    expect(await copiesThatDiffer()).toEqual([]);
    // the others were copied as ever
    expect((await seedAsOlderRelease('RACE-0')).seed).toEqual((await tokens.getWithSeed('RACE-0')).seed);
  }, 30_000);

  test('two rotations do not run at once: the second is refused while the first re-seals', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const inside = new Promise<void>((r) => (started = r));
    const first = db.conn.db.transaction().execute(async (tx) => {
      await rekeyAll(tx, node, newKey);
      started();
      await held;
    });
    await inside;
    try {
      await expect(rekeyAll(db.conn.db, node, newKey)).rejects.toThrow(/another `radotp keys rotate` is running/);
    } finally {
      release();
    }
    await first;
    await expect(rekeyAll(db.conn.db, node, newKey)).resolves.toMatchObject({ clients: 0 });
  }, 15_000);
});
