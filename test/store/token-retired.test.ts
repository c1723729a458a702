import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { randomSeed } from '../support/otp-codes';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';
import { KeyRing, masterKeyFromBytes, type MasterKey } from '../../src/secrets/keyring';
import { copyLegacySeeds } from '../../src/store/legacy-seed-copy';
import { rekeyAll } from '../../src/store/rekey';
import type { NewToken, TokenRepository } from '../../src/store/tokens';
import { UserRepository } from '../../src/store/users';

/*
 * A deleted token's used codes stay used when a token comes back under its serial (migration 0009): the
 * admin who deletes a hardware token and imports the vendor's file again must not reopen every code it
 * showed. Each case is a history of one serial; the last step is the token created at the end.
 *
 * A serial coming back with ANOTHER seed (a reprogrammable token given a new seed, a vendor re-keying it)
 * starts at its own counter: the device counts from there, and the deleted seed's spent codes are not its
 * codes. Same seed or new is told by the keyed seed fingerprint (migration 0012); where it is unknown (a
 * row stored before it, a fingerprint under another key) the deleted token's state is kept, as before.
 */
let db: MigratedDatabase;
let tokens: TokenRepository;
let serialNo = 0;
/** The user every token here is assigned to: a spend is made for the token's user (see SpendBatcher). */
let owner: bigint;
/** Every key used so far (a rotation keeps the old ones readable) and the one sealing now. */
const heldKeys: MasterKey[] = [masterKeyFromBytes(randomBytes(32))];
const ring = () => new KeyRing(heldKeys[heldKeys.length - 1], heldKeys.slice(0, -1));

beforeAll(async () => {
  db = await createMigratedDatabase();
  tokens = tokenRepository(db.conn, ring());
  owner = (await new UserRepository(db.conn.db).add({ username: 'rita', passwordHash: null, method: 'token' })).id;
});
afterAll(() => db.close());

type Step =
  | {
      create: 'hotp' | 'totp';
      counter?: bigint;
      state?: 'active' | 'pending' | 'unassigned';
      many?: boolean;
      /** Which of the case's seeds: 0 (the default: the vendor's file imported again), 1, 2… another one (reprogrammed). */
      seed?: number;
      /** Inserted without a fingerprint, as an older radotp (or a row from before migration 0012) has it. */
      noFingerprint?: boolean;
      /** Inserted by a node (or CLI) still sealing with the key before the last rotation (a rotation being rolled out). */
      oldKey?: boolean;
    }
  | { spendCounter: bigint }
  | { spendStep: number }
  | 'delete'
  /** `radotp keys rotate` to a new key: every live seed is re-sealed (and re-fingerprinted) under it. */
  | 'rotate';

const cases: { name: string; history: Step[]; nextCounter: bigint; lastStep: bigint }[] = [
  { name: 'a serial never deleted starts where its file says', history: [{ create: 'hotp', counter: 7n }], nextCounter: 7n, lastStep: -1n },
  {
    name: 'HOTP used to counter 32, deleted, imported again from counter 0: resumes at 33',
    history: [{ create: 'hotp' }, { spendCounter: 32n }, 'delete', { create: 'hotp', counter: 0n }],
    nextCounter: 33n,
    lastStep: -1n,
  },
  {
    name: 'the same through the import path (insertMany)',
    history: [{ create: 'hotp' }, { spendCounter: 32n }, 'delete', { create: 'hotp', counter: 0n, many: true }],
    nextCounter: 33n,
    lastStep: -1n,
  },
  {
    name: 'a file counter beyond the deleted one wins',
    history: [{ create: 'hotp' }, { spendCounter: 32n }, 'delete', { create: 'hotp', counter: 50n }],
    nextCounter: 50n,
    lastStep: -1n,
  },
  {
    name: 'TOTP: the last accepted step stays accepted',
    history: [{ create: 'totp' }, { spendStep: 58_000_123 }, 'delete', { create: 'totp' }],
    nextCounter: 0n,
    lastStep: 58_000_123n,
  },
  {
    name: 'deleted twice: the furthest state of either life is kept',
    history: [{ create: 'hotp' }, { spendCounter: 40n }, 'delete', { create: 'hotp' }, { spendCounter: 45n }, 'delete', { create: 'hotp' }],
    nextCounter: 46n,
    lastStep: -1n,
  },
  {
    name: 'a pending token (never activated) leaves nothing behind',
    history: [{ create: 'hotp', counter: 9n, state: 'pending' }, 'delete', { create: 'hotp' }],
    nextCounter: 0n,
    lastStep: -1n,
  },
  {
    name: 'HOTP reprogrammed with a new seed: starts at the counter of its file, not at 33',
    history: [{ create: 'hotp' }, { spendCounter: 32n }, 'delete', { create: 'hotp', counter: 0n, seed: 1 }],
    nextCounter: 0n,
    lastStep: -1n,
  },
  {
    name: 'the same through the import path (insertMany)',
    history: [{ create: 'hotp' }, { spendCounter: 32n }, 'delete', { create: 'hotp', counter: 0n, seed: 1, many: true }],
    nextCounter: 0n,
    lastStep: -1n,
  },
  {
    name: 'TOTP with a new seed: the last step of the deleted seed does not bind it',
    history: [{ create: 'totp' }, { spendStep: 58_000_123 }, 'delete', { create: 'totp', seed: 1 }],
    nextCounter: 0n,
    lastStep: -1n,
  },
  {
    name: 'reprogrammed twice (seeds A, B, C): C starts at its own counter too',
    history: [{ create: 'hotp' }, { spendCounter: 500n }, 'delete', { create: 'hotp', seed: 1 }, { spendCounter: 3n }, 'delete', { create: 'hotp', seed: 2, counter: 0n }],
    nextCounter: 0n,
    lastStep: -1n,
  },
  {
    name: 'seed B back after B was deleted: resumes from B, not from A',
    history: [{ create: 'hotp' }, { spendCounter: 500n }, 'delete', { create: 'hotp', seed: 1 }, { spendCounter: 3n }, 'delete', { create: 'hotp', seed: 1 }],
    nextCounter: 4n,
    lastStep: -1n,
  },
  {
    name: "seed A back after B (the old vendor file imported by mistake): A's used codes stay used",
    history: [{ create: 'hotp' }, { spendCounter: 500n }, 'delete', { create: 'hotp', seed: 1 }, { spendCounter: 3n }, 'delete', { create: 'hotp', seed: 0, counter: 0n }],
    nextCounter: 501n,
    lastStep: -1n,
  },
  {
    name: 'the deleted token has no fingerprint (stored before migration 0012): kept, seed new or not',
    history: [{ create: 'hotp', noFingerprint: true }, { spendCounter: 32n }, 'delete', { create: 'hotp', counter: 0n, seed: 1 }],
    nextCounter: 33n,
    lastStep: -1n,
  },
  {
    name: 'the inserted token has no fingerprint (an older radotp node importing): kept',
    history: [{ create: 'hotp' }, { spendCounter: 32n }, 'delete', { create: 'hotp', counter: 0n, seed: 1, noFingerprint: true }],
    nextCounter: 33n,
    lastStep: -1n,
  },
  {
    name: 'one life without a fingerprint makes the serial unknown for good: a later new seed keeps the state',
    history: [
      { create: 'hotp', noFingerprint: true },
      { spendCounter: 32n },
      'delete',
      { create: 'hotp' },
      { spendCounter: 40n },
      'delete',
      { create: 'hotp', counter: 0n, seed: 1 },
    ],
    nextCounter: 41n,
    lastStep: -1n,
  },
  {
    name: 'rotated while the token lived: the rotation re-fingerprints it, a new seed is still told apart',
    history: [{ create: 'hotp' }, { spendCounter: 32n }, 'rotate', 'delete', { create: 'hotp', counter: 0n, seed: 1 }],
    nextCounter: 0n,
    lastStep: -1n,
  },
  {
    name: 'rotated while the token lived: the same seed is still recognised',
    history: [{ create: 'hotp' }, { spendCounter: 32n }, 'rotate', 'delete', { create: 'hotp', counter: 0n }],
    nextCounter: 33n,
    lastStep: -1n,
  },
  {
    name: 'deleted before a rotation: its fingerprint is under the old key, cannot be compared, state kept',
    history: [{ create: 'hotp' }, { spendCounter: 32n }, 'delete', 'rotate', { create: 'hotp', counter: 0n, seed: 1 }],
    nextCounter: 33n,
    lastStep: -1n,
  },
  {
    name: "the same seed under the old key after a life under the new one (a node not yet on the new keyFile): the later life's codes stay used",
    history: [
      { create: 'hotp' },
      { spendCounter: 500n },
      'delete',
      'rotate',
      { create: 'hotp' },
      { spendCounter: 700n },
      'delete',
      { create: 'hotp', counter: 0n, oldKey: true },
    ],
    nextCounter: 701n,
    lastStep: -1n,
  },
];

test.each(cases)('$name', async ({ history, nextCounter, lastStep }) => {
  const serial = `RETIRED-${++serialNo}`;
  const seeds = [randomSeed(), randomSeed(), randomSeed()];
  let id = -1n;
  for (const step of history) {
    if (step === 'delete') await tokens.delete(serial);
    else if (step === 'rotate') {
      const from = ring();
      heldKeys.push(masterKeyFromBytes(randomBytes(32)));
      // as `keys rotate` does: token_seed in one transaction, then the token rows' legacy copies (migration 0018)
      await rekeyAll(db.conn.db, from, new KeyRing(heldKeys[heldKeys.length - 1]));
      await copyLegacySeeds(db.conn.db);
      tokens = tokenRepository(db.conn, ring());
    } else if ('create' in step) {
      const seed = seeds[step.seed ?? 0];
      const t: NewToken = { serial, userId: owner, origin: 'hardware', kind: step.create, state: step.state ?? 'active', algorithm: 'sha1', digits: 6, seed, counter: step.counter };
      if (step.noFingerprint) await db.conn.db.insertInto('token').values({ ...tokens.toInsertRow(t), seed_fingerprint: null }).execute();
      else if (step.many) await tokens.insertMany([t]);
      else if (step.oldKey) await tokenRepository(db.conn, new KeyRing(heldKeys[heldKeys.length - 2], heldKeys.slice(-1))).create(t);
      else await tokens.create(t);
      id = (await tokens.get(serial)).id;
    } else if ('spendCounter' in step) expect(await tokens.acceptCounter({ id, userId: owner }, step.spendCounter)).toBe(true);
    else expect(await tokens.acceptStep({ id, userId: owner }, step.spendStep, 0)).toBe(true);
  }
  const row = await db.conn.db.selectFrom('token').select(['next_counter', 'last_step']).where('serial', '=', serial).executeTakeFirstOrThrow();
  expect([row.next_counter, row.last_step]).toEqual([nextCounter, lastStep]);
});

test('nothing of the seed is kept for a deleted token but its keyed fingerprint', async () => {
  const columnsOf = async (table: string) =>
    ((await db.conn.db.selectFrom('information_schema.columns' as never).select('column_name' as never).where('table_name' as never, '=', table as never).execute()) as { column_name: string }[])
      .map((c) => c.column_name)
      .sort();
  expect(await columnsOf('token_retired')).toEqual(['last_step', 'next_counter', 'retired_at', 'seeds_known', 'serial']);
  expect(await columnsOf('token_retired_seed')).toEqual(['last_step', 'next_counter', 'retired_at', 'seed_fingerprint', 'serial']);
  // an HMAC under a key derived from the key file's: the key's id, then 32 bytes that say nothing of the seed without it
  const seed = randomSeed();
  const fingerprint = ring().fingerprint(seed);
  expect(fingerprint.subarray(0, 8)).toEqual(ring().current.id);
  expect(fingerprint.length).toBe(40);
  expect(fingerprint.includes(seed)).toBe(false);
  expect(new KeyRing(masterKeyFromBytes(randomBytes(32))).fingerprint(seed).subarray(8)).not.toEqual(fingerprint.subarray(8));
});

/*
 * A delete and a re-import of one serial at the same time (two admins, or a script's delete and an import
 * started a moment later): the insert waits on the serial's unique index for the delete to commit. Its
 * replay state must be the deleted token's all the same, not the file's.
 */
test.each([
  ['the same seed: resumes from the deleted token', 'same', 33n],
  ['another seed: starts at its own counter', 'new', 0n],
] as const)('an insert waiting for a delete of its serial to commit, %s', async (_name, seedKind, expected) => {
  const serial = `RETIRED-${++serialNo}`;
  const first = randomSeed(); // 'same': the vendor's file imported again
  let lives = 0;
  const fresh = (): NewToken => ({
    serial,
    userId: owner,
    origin: 'hardware',
    kind: 'hotp',
    state: 'active',
    algorithm: 'sha1',
    digits: 6,
    seed: lives++ > 0 && seedKind === 'new' ? randomSeed() : first,
    counter: 0n,
  });
  const token = await tokens.create(fresh());
  expect(await tokens.acceptCounter(token, 32n)).toBe(true);

  const deleter = new pg.Client({ connectionString: db.url });
  const watcher = new pg.Client({ connectionString: db.url });
  await deleter.connect();
  await watcher.connect();
  try {
    await deleter.query('BEGIN');
    await deleter.query('DELETE FROM token WHERE serial = $1', [serial]);
    const inserted = tokens.create(fresh());
    // the insert is queued on the deleter's row: wait until PostgreSQL says so (no sleeping)
    for (;;) {
      const { rows } = await watcher.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE 'insert into \"token\"%'",
      );
      if (rows[0].n > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await deleter.query('COMMIT');
    await inserted;
  } finally {
    await deleter.end();
    await watcher.end();
  }
  const row = await db.conn.db.selectFrom('token').select(['next_counter']).where('serial', '=', serial).executeTakeFirstOrThrow();
  expect(row.next_counter).toBe(expected);
});
