import { randomBytes } from 'node:crypto';
import { CompiledQuery, sql } from 'kysely';
import type { Connection } from '../../src/store/connect';
import { expiredPendingDeletion, type NewToken, type TokenRepository } from '../../src/store/tokens';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * Pending tokens (enrolled, never activated) expire; every node deletes the expired ones once a minute.
 * Only those: an active or pool token is never touched, whatever its leftover expiry time says.
 */
let db: MigratedDatabase;
let conn: Connection;
let tokens: TokenRepository;

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  tokens = tokenRepository(conn);
});

afterAll(async () => {
  await db.close();
});

const MINUTE = 60_000;
const at = (msFromNow: number) => new Date(Date.now() + msFromNow);

const cases: { serial: string; state: NewToken['state']; pendingExpiresAt: Date | null; deleted: boolean }[] = [
  { serial: 'PEND-EXPIRED', state: 'pending', pendingExpiresAt: at(-MINUTE), deleted: true },
  { serial: 'PEND-EXPIRED-LONG-AGO', state: 'pending', pendingExpiresAt: at(-30 * 24 * 60 * MINUTE), deleted: true },
  { serial: 'PEND-LIVE', state: 'pending', pendingExpiresAt: at(10 * MINUTE), deleted: false },
  { serial: 'PEND-NO-EXPIRY', state: 'pending', pendingExpiresAt: null, deleted: false },
  { serial: 'ACTIVE-PAST-EXPIRY', state: 'active', pendingExpiresAt: at(-MINUTE), deleted: false },
  { serial: 'POOL-PAST-EXPIRY', state: 'unassigned', pendingExpiresAt: at(-MINUTE), deleted: false },
  { serial: 'DISABLED', state: 'disabled', pendingExpiresAt: null, deleted: false },
];

test('deleteExpiredPending removes the expired pending tokens and nothing else', async () => {
  for (const c of cases) {
    await tokens.create({ serial: c.serial, userId: null, origin: 'software', kind: 'totp', state: c.state, algorithm: 'sha1', digits: 6, seed: randomBytes(20), pendingExpiresAt: c.pendingExpiresAt });
  }
  expect(await tokens.deleteExpiredPending()).toBe(cases.filter((c) => c.deleted).length);
  const left = (await tokens.list()).map((t) => t.serial).sort();
  expect(left).toEqual(cases.filter((c) => !c.deleted).map((c) => c.serial).sort());
  expect(await tokens.deleteExpiredPending()).toBe(0);
});

test('with a large pool, the purge reads the partial index of pending tokens, not the whole table (migration 0006)', async () => {
  await sql`INSERT INTO token (serial, origin, kind, state, seed_sealed)
    SELECT 'POOL-' || g, 'hardware', 'totp', 'unassigned', '\\x00' FROM generate_series(1, 20000) g`.execute(conn.db);
  await sql`ANALYZE token`.execute(conn.db);
  // the very statement deleteExpiredPending sends, with its parameters
  const purge = expiredPendingDeletion(conn.db).compile();
  const plan = await conn.db.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`EXPLAIN ${purge.sql}`, [...purge.parameters]));
  const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
  expect(text).toContain('token_pending_expiry_idx');
  expect(text).not.toContain('Seq Scan');
});
