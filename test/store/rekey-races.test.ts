import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { connect, type Connection } from '../../src/store/connect';
import { rekeyAll } from '../../src/store/rekey';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { insertSealedTokens, seedsByKey } from '../support/sealed-tokens';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/*
 * `keys rotate` reads and re-seals every secret without locks, then writes them (see src/store/rekey.ts). What
 * happens to a row between the two, to a second rotation run meanwhile, and to a rotation cut off half-way.
 * A session of the test holds a token's row (an uncommitted change, as a node or an admin's command would) so
 * that the rotation is caught exactly while it writes.
 */
let db: MigratedDatabase;
/** Another session: the node or the admin acting while the rotation runs. */
let other: pg.Client;
/** The session of a second admin. */
let second: Connection;
let oldKeys: KeyRing;
let newKey: KeyRing;

beforeAll(async () => {
  db = await createMigratedDatabase();
  other = new pg.Client({ connectionString: db.url });
  await other.connect();
  second = connect(db.url, { poolSize: 2, applicationName: 'radotp second admin' });
});

afterAll(async () => {
  await other?.end();
  await second?.close();
  await db?.close();
});

beforeEach(async () => {
  await sql`DELETE FROM token`.execute(db.conn.db);
  await sql`DELETE FROM app_user`.execute(db.conn.db);
  oldKeys = new KeyRing(masterKeyFromBytes(randomBytes(32)));
  newKey = new KeyRing(masterKeyFromBytes(randomBytes(32)));
});

const idOf = async (serial: string) => (await db.conn.db.selectFrom('token').select('id').where('serial', '=', serial).executeTakeFirstOrThrow()).id;

/** Resolves once some session waits for a lock that `holder` (a backend pid) holds. */
const someoneWaitsFor = (holder: number) =>
  waitFor('a session waiting for the held row', async () =>
    (await sql<{ n: string }>`SELECT count(*) AS n FROM pg_stat_activity WHERE ${holder}::int = ANY(pg_blocking_pids(pid))`.execute(db.conn.db)).rows[0].n !== '0' ? true : undefined,
  );

const holderPid = async () => (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;

test('rows changed between the reading and the writing are redone as they are now: a deleted one stays deleted, a replaced seed is not put back', async () => {
  await insertSealedTokens(db.conn.db, oldKeys, 3, 'T-');
  const replaced = randomBytes(20);
  // Before the rotation starts, another session deletes T-0 and replaces T-1's seed, and holds both rows to its commit.
  await other.query('BEGIN');
  await other.query('DELETE FROM token WHERE serial = $1', ['T-0']);
  await other.query('UPDATE token SET seed_sealed = $1 WHERE serial = $2', [oldKeys.seal(replaced, 'token-seed'), 'T-1']);
  const rotation = db.conn.db.transaction().execute((tx) => rekeyAll(tx, oldKeys, newKey));
  // the rotation read the three rows as committed, sealed them, and now waits to write T-0 and T-1
  await someoneWaitsFor(await holderPid());
  // and a token enrolled by a node still on the old key, committed with the rest: the rotation never read it
  await other.query(`INSERT INTO token (serial, origin, kind, state, algorithm, digits, seed_sealed) VALUES ('T-LATE', 'software', 'totp', 'unassigned', 'sha1', 6, $1)`, [
    oldKeys.seal(randomBytes(20), 'token-seed'),
  ]);
  await other.query('COMMIT');
  expect(await rotation).toEqual({ clients: 0, tokens: 2, alreadyUnderKey: 0 });
  const seeds = await db.conn.db.selectFrom('token').select(['serial', 'seed_sealed']).orderBy('serial').execute();
  expect(seeds.map((s) => s.serial)).toEqual(['T-1', 'T-2', 'T-LATE']);
  // T-1 holds the seed it was given meanwhile, under the new key (the guard kept the old seed from coming back)
  expect(newKey.open(seeds[0].seed_sealed, 'token-seed')).toEqual(replaced);
  // T-LATE is what the last `keys rotate` of a roll-out (step 5 of --help) re-seals
  expect(await seedsByKey(db.conn.db)).toEqual([[oldKeys.current.idHex, 1], [newKey.current.idHex, 2]].sort());
});

test('two rotations at once: the second fails at once, naming the first, and changes nothing; run again after, it finds nothing left', async () => {
  await insertSealedTokens(db.conn.db, oldKeys, 3, 'T-');
  await db.conn.db.transaction().execute(async (tx) => {
    expect(await rekeyAll(tx, oldKeys, newKey)).toEqual({ clients: 0, tokens: 3, alreadyUnderKey: 0 });
    // the first has not committed yet; the second admin rotates to another key
    const third = new KeyRing(masterKeyFromBytes(randomBytes(32)));
    await expect(rekeyAll(second.db, new KeyRing(oldKeys.current, [newKey.current]), third)).rejects.toThrow(
      /^another keys rotate is running \(PostgreSQL pid \d+, radotp, since \d{4}-\d\d-\d\dT[\d:.]+Z\); nothing was changed: run this again once it has finished$/,
    );
  });
  expect(await seedsByKey(db.conn.db)).toEqual([[newKey.current.idHex, 3]]);
  expect(await rekeyAll(second.db, new KeyRing(oldKeys.current, [newKey.current]), newKey)).toEqual({ clients: 0, tokens: 0, alreadyUnderKey: 3 });
});

test('a rotation whose connection is lost half-way through its writes leaves every seed under the old key, and its row locks go with it', async () => {
  // three chunks of writes (5000 rows each); the last token held by another session, so the rotation stops there
  await insertSealedTokens(db.conn.db, oldKeys, 12_000, 'T-');
  const last = await idOf('T-11999');
  await other.query('BEGIN');
  await other.query('UPDATE token SET fail_count = fail_count WHERE id = $1', [last]);
  const rotation = connect(db.url, { poolSize: 1, applicationName: 'radotp keys rotate' });
  try {
    const running = rotation.db.transaction().execute((tx) => rekeyAll(tx, oldKeys, newKey));
    await someoneWaitsFor(await holderPid());
    // the first 10 000 rows are written and locked: the rotation's session is cut off (a network loss, a killed process)
    await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'radotp keys rotate'`.execute(db.conn.db);
    await expect(running).rejects.toThrow();
  } finally {
    await rotation.close();
  }
  await other.query('ROLLBACK');
  expect(await seedsByKey(db.conn.db)).toEqual([[oldKeys.current.idHex, 12_000]]);
  // a login spending the first token's code goes through: nothing of the rotation is left holding it
  const first = (await tokenRepository(second, oldKeys).get('T-0'))!;
  expect(await tokenRepository(second, oldKeys).acceptCounter({ id: first.id, userId: first.userId }, 1n)).toBe(true);
});
