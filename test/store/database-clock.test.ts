import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { TokenVerifier } from '../../src/auth/token-verifier';
import { DatabaseClock } from '../../src/store/database-clock';
import type { TokenRepository } from '../../src/store/tokens';
import { UserRepository } from '../../src/store/users';
import { hotp } from '../../src/otp';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/* The database's clock as a node reads it (see DatabaseClock): whatever the node's wall clock says or does. */

let m: MigratedDatabase;
let tokens: TokenRepository;
/** The user the tokens here are assigned to: a code is spent only for its token's user (see SpendBatcher). */
let owner: bigint;
beforeAll(async () => {
  m = await createMigratedDatabase();
  tokens = tokenRepository(m.conn);
  owner = (await new UserRepository(m.conn.db).add({ username: 'lena', passwordHash: null, method: 'token' })).id;
});
afterAll(() => m.close());

async function databaseMs(): Promise<number> {
  const r = await sql<{ ms: number }>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`.execute(m.conn.db);
  return Number(r.rows[0]!.ms);
}

test.each([
  ['20 s behind', -20_000],
  ['20 s ahead', 20_000],
  ['right', 0],
])('a node whose wall clock is %s reads the database clock', async (_, offset) => {
  let wall = Date.now() + offset;
  const clock = new DatabaseClock(() => performance.now(), () => wall);
  expect(clock.nowMs()).toBe(wall); // no reading yet: the wall clock is all there is
  await clock.sync(m.conn.db);
  expect(Math.abs(clock.nowMs() - (await databaseMs()))).toBeLessThan(500);
  expect(Math.abs(clock.offsetFromWallMs() + offset)).toBeLessThan(500);
  wall += 3_600_000; // NTP steps the node's clock an hour: the database's clock does not move with it
  expect(Math.abs(clock.nowMs() - (await databaseMs()))).toBeLessThan(500);
});

test("a token's lock that ran out by the database's clock takes a right code on a node whose clock lags", async () => {
  const seed = randomBytes(20);
  const t = await tokens.create({ serial: 'HOTP-LOCK', userId: owner, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed });
  await tokens.recordFailure([t.id], [randomBytes(32)], 1, 1); // locked for 1 s by the database's now()
  await new Promise((r) => setTimeout(r, 1500));
  const clock = new DatabaseClock(() => performance.now(), () => Date.now() - 5000);
  await clock.sync(m.conn.db);
  const verifier = new TokenVerifier(tokens, { digests: () => [randomBytes(32)] }, { totpWindow: 1, hotpLookAhead: 10, maxFailures: 10, lockSeconds: 60 }, clock.now);
  const login = await tokens.getWithSeed('HOTP-LOCK');
  // the node's own clock (5 s behind) would still call it locked; the spend's guard (database now()) would not
  expect(login.lockedUntil!.getTime()).toBeGreaterThan(Date.now() - 5000);
  const check = await verifier.check([login], hotp(seed, 0n, 6, 'sha1'));
  expect(check.result).toBe('accept');
});

/*
 * The reading is timed on its connection: timed from before the pool handed one out, a reading made while the pool
 * was busy (the minute's reading runs beside the purges) counted the wait as round trip and put the database's time
 * half the wait ahead (here, over 100 ms): a code sent in the last tenth of a second of its step read as the next
 * step's on that node.
 */
test('a reading made while every pooled connection is busy is not off by the wait for one', async () => {
  const clock = new DatabaseClock();
  const busy = [0, 1].map(() => sql`SELECT pg_sleep(0.3)`.execute(m.conn.db)); // the test pool has 2 connections
  await new Promise((r) => setTimeout(r, 50));
  await clock.sync(m.conn.db);
  await Promise.all(busy);
  const before = clock.nowMs();
  const database = await databaseMs();
  const after = clock.nowMs();
  expect(database).toBeGreaterThan(before - 10);
  expect(database).toBeLessThan(after + 10);
});
