import pg from 'pg';
import { randomSeed } from '../support/otp-codes';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';
import type { NewToken, TokenRepository } from '../../src/store/tokens';

/*
 * A deleted token's used codes stay used when a token comes back under its serial (migration 0009): the
 * admin who deletes a hardware token and imports the vendor's file again must not reopen every code it
 * showed. Each case is a history of one serial; the last step is the token created at the end.
 */
let db: MigratedDatabase;
let tokens: TokenRepository;
let serialNo = 0;

beforeAll(async () => {
  db = await createMigratedDatabase();
  tokens = tokenRepository(db.conn);
});
afterAll(() => db.close());

type Step =
  | { create: 'hotp' | 'totp'; counter?: bigint; state?: 'active' | 'pending' | 'unassigned'; many?: boolean }
  | { spendCounter: bigint }
  | { spendStep: number }
  | 'delete';

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
];

test.each(cases)('$name', async ({ history, nextCounter, lastStep }) => {
  const serial = `RETIRED-${++serialNo}`;
  let id = -1n;
  for (const step of history) {
    if (step === 'delete') await tokens.delete(serial);
    else if ('create' in step) {
      const t: NewToken = { serial, userId: null, origin: 'hardware', kind: step.create, state: step.state ?? 'active', algorithm: 'sha1', digits: 6, seed: randomSeed(), counter: step.counter };
      if (step.many) await tokens.insertMany([t]);
      else await tokens.create(t);
      id = (await tokens.get(serial)).id;
    } else if ('spendCounter' in step) expect(await tokens.acceptCounter(id, step.spendCounter)).toBe(true);
    else expect(await tokens.acceptStep(id, step.spendStep, 0)).toBe(true);
  }
  const row = await db.conn.db.selectFrom('token').select(['next_counter', 'last_step']).where('serial', '=', serial).executeTakeFirstOrThrow();
  expect([row.next_counter, row.last_step]).toEqual([nextCounter, lastStep]);
});

test('nothing of the seed is kept for a deleted token', async () => {
  const columns = await db.conn.db.selectFrom('information_schema.columns' as never).select('column_name' as never).where('table_name' as never, '=', 'token_retired' as never).execute();
  expect((columns as { column_name: string }[]).map((c) => c.column_name).sort()).toEqual(['last_step', 'next_counter', 'retired_at', 'serial']);
});

/*
 * A delete and a re-import of one serial at the same time (two admins, or a script's delete and an import
 * started a moment later): the insert waits on the serial's unique index for the delete to commit. Its
 * replay state must be the deleted token's all the same, not the file's.
 */
test('an insert waiting for a delete of its serial to commit resumes from the deleted token', async () => {
  const serial = `RETIRED-${++serialNo}`;
  const fresh = (): NewToken => ({ serial, userId: null, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomSeed(), counter: 0n });
  const { id } = await tokens.create(fresh());
  expect(await tokens.acceptCounter(id, 32n)).toBe(true);

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
  expect(row.next_counter).toBe(33n);
});
