import { ChallengeRepository, type TakenChallenge } from '../../src/store/challenges';
import type { Connection } from '../../src/store/connect';
import { UserRepository } from '../../src/store/users';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';

/*
 * A challenge in PostgreSQL: taken once, by its own user only; held while its answer is decided, used up by a
 * decision, and back for the NAS's retry when no decision came (released, or the taker's connection lost).
 */
let db: MigratedDatabase;
let conn: Connection;
let challenges: ChallengeRepository;
let ria: bigint;
let sam: bigint;

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  challenges = new ChallengeRepository(conn.db, conn.challengePool);
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
  const taken = await challenges.take(state, ria);
  expect(taken?.challenge).toMatchObject({ state, userId: ria, kind: 'token', data: { q: 1 }, node: 'n1' });
  await taken!.consume();
  expect(await challenges.isLive(state)).toBe(false);
  expect(await challenges.take(state, ria)).toBeUndefined();
});

// [what the first taker does, whether a second take made meanwhile (it waits) then finds the challenge]
const decisions: [string, (t: TakenChallenge) => Promise<void>, boolean][] = [
  ['decides (consume)', (t) => t.consume(), false],
  ['decides nothing (release)', (t) => t.release(), true],
  [
    'loses its connection before deciding',
    async (t) => {
      await conn.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'radotp challenge' AND state LIKE 'idle in transaction%'");
      await t.consume(); // too late: never rejects, and the challenge stays
    },
    true,
  ],
];

test.each(decisions)('a taker that %s: a second take waiting for it finds the challenge: %s', async (_case, decide, found) => {
  const state = await challenges.issue({ userId: ria, kind: 'token', node: 'n1', ttlSeconds: 60 });
  const first = (await challenges.take(state, ria))!;
  const order: string[] = [];
  const second = challenges.take(state, ria).then((t) => (order.push('second take'), t));
  await new Promise((r) => setTimeout(r, 100)); // give the second take time to overtake, were it not held up
  order.push('first decided');
  await decide(first);
  const again = await second;
  expect(order).toEqual(['first decided', 'second take']);
  expect(again?.challenge).toEqual(found ? first.challenge : undefined);
  await again?.consume();
});

test('an expired challenge is neither live nor taken', async () => {
  const state = await challenges.issue({ userId: ria, kind: 'token', node: 'n1', ttlSeconds: 0 });
  await new Promise((r) => setTimeout(r, 20));
  expect(await challenges.isLive(state)).toBe(false);
  expect(await challenges.take(state, ria)).toBeUndefined();
});
