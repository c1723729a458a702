import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { connect, type Connection } from '../../src/store/connect';
import { PasswordLockoutRepository } from '../../src/store/password-lockout';
import { UserRepository } from '../../src/store/users';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';

/*
 * Wrong passwords per user, kept in PostgreSQL (see PasswordLockoutRepository): a lock after maxFailures,
 * a lock never lengthened by attempts while it holds, an expired lock starting afresh, a right password
 * clearing the count but never a lock in force, and guesses from several nodes adding up.
 */
let db: MigratedDatabase;
let conn: Connection;
let users: UserRepository;
let passwords: PasswordLockoutRepository;
const MAX = 3;
const LOCK_SECONDS = 600;

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  users = new UserRepository(conn.db);
  passwords = new PasswordLockoutRepository(conn.db);
});
afterAll(async () => {
  await db.close();
});

async function newUser(): Promise<bigint> {
  return (await users.add({ username: `u-${randomBytes(4).toString('hex')}`, passwordHash: '$argon2id$stand-in', method: 'password' })).id;
}

/** Moves a lock into the past, as if its duration had gone by. */
async function expire(userId: bigint): Promise<void> {
  await sql`UPDATE password_lockout SET locked_until = now() - interval '1 second' WHERE user_id = ${userId}`.execute(conn.db);
}

type Step = 'wrong' | 'right, let in' | 'right, still locked' | 'lock expires';

// [case, steps in order, then: failures counted (0: no row), locked]
const cases: [string, Step[], number, boolean][] = [
  ['one wrong password', ['wrong'], 1, false],
  ['wrong passwords up to the limit lock', ['wrong', 'wrong', 'wrong'], 3, true],
  ['a right password clears the count', ['wrong', 'wrong', 'right, let in'], 0, false],
  ['and the count starts again after it', ['wrong', 'wrong', 'right, let in', 'wrong', 'wrong'], 2, false],
  ['a right password does not lift a lock', ['wrong', 'wrong', 'wrong', 'right, still locked'], 3, true],
  ['a wrong one while locked is counted, the lock held', ['wrong', 'wrong', 'wrong', 'wrong'], 4, true],
  ['an expired lock starts the count afresh', ['wrong', 'wrong', 'wrong', 'lock expires', 'wrong'], 1, false],
  ['and locks again at the limit', ['wrong', 'wrong', 'wrong', 'lock expires', 'wrong', 'wrong', 'wrong'], 3, true],
  ['a right password after an expired lock clears it', ['wrong', 'wrong', 'wrong', 'lock expires', 'right, let in'], 0, false],
];

test.each(cases)('%s', async (_case, steps, failures, locked) => {
  const id = await newUser();
  for (const step of steps) {
    if (step === 'wrong') await passwords.recordFailure(id, MAX, LOCK_SECONDS);
    else if (step === 'lock expires') await expire(id);
    else expect(await passwords.settleSuccess(id)).toEqual({ locked: step === 'right, still locked' });
  }
  expect((await passwords.state(id)).locked).toBe(locked);
  const lock = (await passwords.locks([id])).get(id);
  expect(lock?.failures ?? 0).toBe(failures);
  expect(lock?.lockedUntil != null).toBe(locked);
});

test('attempts while locked do not lengthen the lock', async () => {
  const id = await newUser();
  for (let i = 0; i < MAX; i++) await passwords.recordFailure(id, MAX, LOCK_SECONDS);
  const until = (await passwords.locks([id])).get(id)!.lockedUntil!;
  expect(until.getTime()).toBeGreaterThan(Date.now() + (LOCK_SECONDS - 60) * 1000);
  await new Promise((r) => setTimeout(r, 20));
  await passwords.recordFailure(id, MAX, LOCK_SECONDS);
  expect((await passwords.locks([id])).get(id)!.lockedUntil).toEqual(until);
});

test('state reads the hash with the lock and the method, and a user that is gone as no password, not found', async () => {
  const id = await newUser();
  expect(await passwords.state(id)).toEqual({ hash: '$argon2id$stand-in', locked: false, found: true, method: 'password' });
  expect(await passwords.state(-5n)).toEqual({ hash: null, locked: false, found: false, method: null });
});

test('guesses spread over two nodes at once all count, and lock', async () => {
  const id = await newUser();
  const other = connect(db.url, { poolSize: 4 });
  try {
    const nodeB = new PasswordLockoutRepository(other.db);
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? nodeB : passwords).recordFailure(id, 10, LOCK_SECONDS)));
  } finally {
    await other.close();
  }
  expect((await passwords.locks([id])).get(id)).toEqual({ failures: 20, lockedUntil: expect.any(Date) });
});

test('a failure for a user deleted meanwhile counts nothing, and the row goes with the user', async () => {
  const gone = await newUser();
  await conn.db.deleteFrom('app_user').where('id', '=', gone).execute();
  await passwords.recordFailure(gone, MAX, LOCK_SECONDS);
  const kept = await newUser();
  await passwords.recordFailure(kept, MAX, LOCK_SECONDS);
  await conn.db.deleteFrom('app_user').where('id', '=', kept).execute();
  expect((await passwords.locks()).has(gone) || (await passwords.locks()).has(kept)).toBe(false);
});

test('unlock clears the count and the lock; a name nobody has is an error', async () => {
  const name = `u-${randomBytes(4).toString('hex')}`;
  const id = (await users.add({ username: name, passwordHash: '$argon2id$stand-in', method: 'password' })).id;
  for (let i = 0; i < MAX; i++) await passwords.recordFailure(id, MAX, LOCK_SECONDS);
  expect(await passwords.unlock(name)).toBe(true);
  expect(await passwords.state(id)).toEqual({ hash: '$argon2id$stand-in', locked: false, found: true, method: 'password' });
  expect(await passwords.unlock(name)).toBe(false);
  await expect(passwords.unlock('nobody-at-all')).rejects.toThrow('no user named "nobody-at-all"');
});
