import { ChallengeRepository } from '../../src/store/challenges';
import type { Connection } from '../../src/store/connect';
import { UserRepository } from '../../src/store/users';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';

/* A challenge in PostgreSQL: taken once, by its own user only; put back when its answer could not be decided. */
let db: MigratedDatabase;
let conn: Connection;
let challenges: ChallengeRepository;
let ria: bigint;
let sam: bigint;

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  challenges = new ChallengeRepository(conn.db);
  const users = new UserRepository(conn.db);
  ria = (await users.add({ username: 'ria', passwordHash: null, method: 'token' })).id;
  sam = (await users.add({ username: 'sam', passwordHash: null, method: 'token' })).id;
});
afterAll(async () => {
  await db.close();
});

test("another user's take consumes nothing; the owner's take consumes it once", async () => {
  const state = await challenges.issue({ userId: ria, kind: 'token', data: { q: 1 }, node: 'n1', ttlSeconds: 60 });
  expect(await challenges.take(state, sam)).toBeUndefined();
  expect(await challenges.isLive(state)).toBe(true);
  expect(await challenges.take(state, ria)).toMatchObject({ state, userId: ria, kind: 'token', data: { q: 1 }, node: 'n1' });
  expect(await challenges.isLive(state)).toBe(false);
  expect(await challenges.take(state, ria)).toBeUndefined();
});

test('restore puts a taken challenge back as it was (same expiry), and is harmless when it is still there', async () => {
  const state = await challenges.issue({ userId: ria, kind: 'token', node: 'n1', ttlSeconds: 60 });
  const taken = (await challenges.take(state, ria))!;
  await challenges.restore(taken);
  await challenges.restore(taken);
  const again = await challenges.take(state, ria);
  expect(again).toEqual(taken);
});

test('an expired challenge is neither live nor taken', async () => {
  const state = await challenges.issue({ userId: ria, kind: 'token', node: 'n1', ttlSeconds: 0 });
  await new Promise((r) => setTimeout(r, 20));
  expect(await challenges.isLive(state)).toBe(false);
  expect(await challenges.take(state, ria)).toBeUndefined();
});
