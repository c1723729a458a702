import pg from 'pg';
import { sql } from 'kysely';
import { connect, loginReadiness, isDatabaseUnavailable, postgresSqlstate, renewConnections, type Connection, type LoginReadiness } from '../../src/store/connect';
import { ChallengeRepository } from '../../src/store/challenges';
import { PasswordLockoutRepository } from '../../src/store/password-lockout';
import { UserRepository } from '../../src/store/users';
import { randomSeed } from '../support/otp-codes';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * A database that takes reads but refuses writes: a standby the database address now leads to after a
 * failover, or `default_transaction_read_only` set by an operator. Every login writes (a spend, a failure
 * count, a challenge), so none can be decided: each is left unanswered as the database's refusal (a warning
 * naming SQLSTATE 25006, reason database_unavailable), like a full disk, not as a bug of radotp (an error
 * with a stack trace, reason internal_error). Nothing is accepted without its replay-protecting write.
 */
let db: MigratedDatabase;
let readOnly: Connection;
let userId: bigint;
let tokenId: bigint;
let readinessBefore: LoginReadiness;

beforeAll(async () => {
  db = await createMigratedDatabase();
  userId = (await new UserRepository(db.conn.db).add({ username: 'ria', passwordHash: null, method: 'token' })).id;
  const tokens = tokenRepository(db.conn);
  tokenId = (await tokens.create({ serial: 'RO-1', userId, origin: 'software', kind: 'totp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomSeed() })).id;
  readinessBefore = await loginReadiness(db.conn.pool, 1000);
  const name = new URL(db.url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
  await admin.end();
  readOnly = connect(db.url, { poolSize: 1 }); // new connections start read-only
});
afterAll(async () => {
  await readOnly?.close();
  await db?.close();
});

// [a login's write]
const writes: [string, (on: Connection) => Promise<unknown>][] = [
  ['the spend of a TOTP code', (on) => tokenRepository(on).acceptStep({ id: tokenId, userId }, 1_000_000, 0)],
  ["a wrong code's count", (on) => tokenRepository(on).recordFailure([tokenId], [Buffer.alloc(32)], 10, 60)],
  ["a wrong password's count", (on) => new PasswordLockoutRepository(on.db).recordFailure(userId, 10, 60)],
  ['a challenge', (on) => new ChallengeRepository(on.db, on.challengePool).issue({ userId, kind: 'token', node: 'n1', ttlSeconds: 60 })],
];

test.each(writes)('%s is refused, and the refusal is the database being unavailable', async (_case, write) => {
  const e = await write(readOnly).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(postgresSqlstate(e)).toBe('25006');
  expect(isDatabaseUnavailable(e)).toBe(true);
});

test('the health check counts it as down (Status-Server unanswered, /healthz 503), as it counted the database before as up', async () => {
  expect(readinessBefore).toBe('ready');
  expect(await loginReadiness(readOnly.pool, 1000)).toBe('read-only');
});

/*
 * Last, as it makes the database writable again: the address moved to the new primary after a failover, so new
 * sessions take writes, while a session opened before still leads to the standby (see READ_ONLY_SESSION in
 * connect.ts). A pooled connection whose write was refused, or that the health check found read-only, was kept,
 * and refused every write given it until it sat idle for 30 s, which a serving node's never does. Each write
 * below runs on a pool of one connection that was refused just before.
 */
test.each(writes)('once new sessions take writes, %s succeeds on the pool whose connection was refused (that connection was closed)', async (_case, write) => {
  const name = new URL(db.url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: process.env.RADOTP_TEST_ADMIN_URL! }); // a session of this database would be read-only
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
    const opened = connect(db.url, { poolSize: 1 });
    try {
      expect(await loginReadiness(opened.pool, 1000)).toBe('read-only');
      expect(postgresSqlstate(await write(opened).catch((e: unknown) => e))).toBe('25006');
      await admin.query(`ALTER DATABASE ${name} RESET default_transaction_read_only`);
      expect(await loginReadiness(opened.pool, 1000)).toBe('ready');
      await expect(write(opened)).resolves.not.toThrow();
    } finally {
      await opened.close();
    }
  } finally {
    await admin.query(`ALTER DATABASE ${name} RESET default_transaction_read_only`);
    await admin.end();
  }
});

/*
 * Reads work on a standby, so a connection opened to it and used only for reads is refused nothing and stays in the
 * pool after the address moves; renewConnections (the health check, on finding the database read-only and on finding
 * it writable again) closes every connection open then at its next checkout, through kysely and pool.query alike.
 */
test('renewed: every connection open is closed at its next checkout, none lent out again; those opened after are kept', async () => {
  const conn = connect(db.url, { poolSize: 3 });
  const pid = async () => (await conn.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const pids = async () => new Set(await Promise.all([1, 2, 3].map(() => pid())));
  try {
    const before = await pids();
    expect(await pids()).toEqual(before); // without a renewal the pool lends the same ones
    renewConnections(conn);
    const after = await pids();
    expect([...after].filter((p) => before.has(p))).toEqual([]);
    const viaKysely = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(conn.db)).rows[0]!.pid;
    expect(before.has(viaKysely)).toBe(false);
    expect(conn.pool.totalCount).toBeLessThanOrEqual(3);
  } finally {
    await conn.close();
  }
});
