import { sql } from 'kysely';
import pg from 'pg';
import { AuditRepository, type AuditEvent } from '../../src/store/audit';
import { AUDIT_PRUNE_LOCK } from '../../src/store/audit-retention';
import type { Connection } from '../../src/store/connect';
import { poolRunner } from '../../src/store/prepared';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';

let db: MigratedDatabase;
let conn: Connection;
let audit: AuditRepository;

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  audit = new AuditRepository(conn.db, poolRunner(conn.auditPool));
});

afterAll(async () => {
  await db.close();
});

beforeEach(async () => {
  await sql`TRUNCATE audit_event`.execute(conn.db);
});

const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms);
const event = (username: string | undefined, at: Date, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  at: at.getTime(),
  node: 'n1',
  username,
  result: 'reject',
  reason: 'bad_code',
  ...extra,
});

/** As the AuditWriter hands them over: a batch as the JSON text of an array of events. */
const insert = (events: AuditEvent[]) => audit.insertJson(JSON.stringify(events));

describe('AuditRepository', () => {
  test('insertJson writes every field, absent ones as NULL, text with quotes and backslashes intact', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    await insert([
      { at: at.getTime(), node: 'n1', client: 'vpn "a"', clientAddress: '10.0.0.1', username: 'o\\brien', result: 'accept', reason: 'code_ok', method: 'token', tokenSerial: 'T1', detail: { k: [1, 'x'] } },
      { node: 'n2', result: 'reject', reason: 'no_username' },
    ]);
    const rows = await audit.recent({ limit: 10 });
    const byNode = new Map(rows.map((r) => [r.node, r]));
    expect(byNode.get('n1')).toMatchObject({ at, client: 'vpn "a"', clientAddress: '10.0.0.1', username: 'o\\brien', result: 'accept', reason: 'code_ok', method: 'token', tokenSerial: 'T1', detail: { k: [1, 'x'] } });
    const n2 = byNode.get('n2')!;
    expect([n2.client, n2.username, n2.method, n2.tokenSerial, n2.detail]).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(Math.abs(n2.at.getTime() - Date.now())).toBeLessThan(60_000); // no decision time given: the insert time
  });

  test('a batch sent again under its id (its first answer lost) is inserted once; another id inserts again', async () => {
    const node = `once-${Date.now()}`;
    const json = JSON.stringify([{ node, username: 'a', result: 'accept', reason: 'code_ok' }, { node, username: 'b', result: 'reject', reason: 'bad_code' }]);
    const count = async () => (await conn.db.selectFrom('audit_event').select((e) => e.fn.countAll<bigint>().as('n')).where('node', '=', node).executeTakeFirstOrThrow()).n;
    const id = '00000000-0000-4000-8000-000000000001';
    for (const [batchId, rows] of [[id, 2n], [id, 2n], ['00000000-0000-4000-8000-000000000002', 4n]] as const) {
      await audit.insertJson(json, batchId);
      expect(await count()).toBe(rows);
    }
  });

  test('batch ids older than a day are forgotten, newer ones kept', async () => {
    await sql`INSERT INTO audit_batch (id, written_at) VALUES ('00000000-0000-4000-8000-0000000000aa', now() - interval '25 hours'),
      ('00000000-0000-4000-8000-0000000000bb', now() - interval '23 hours')`.execute(conn.db);
    expect(await audit.forgetOldBatchIds()).toBe(1);
    const left = await conn.db.selectFrom('audit_batch').select('id').where('id', 'in', ['00000000-0000-4000-8000-0000000000aa', '00000000-0000-4000-8000-0000000000bb']).execute();
    expect(left.map((r) => r.id)).toEqual(['00000000-0000-4000-8000-0000000000bb']);
  });

  // recent() searches growing windows back from now; each row says where the events are and what must come back
  test.each([
    { name: 'all within the last hour', ages: [1, 2, 3].map((m) => m * 60_000), limit: 2, want: [0, 1] },
    { name: 'too few in the last hour: the day is searched', ages: [60_000, 5 * HOUR, 20 * HOUR], limit: 3, want: [0, 1, 2] },
    { name: 'a year and more back', ages: [400 * 24 * HOUR, 30 * 24 * HOUR, 2 * HOUR], limit: 10, want: [2, 1, 0] },
    { name: 'limit cuts the oldest', ages: [10 * 24 * HOUR, 9 * 24 * HOUR, 8 * 24 * HOUR], limit: 2, want: [2, 1] },
  ])('recent: $name', async ({ ages, limit, want }) => {
    await insert(ages.map((age, i) => event('ann', ago(age), { tokenSerial: `E${i}` })));
    const rows = await audit.recent({ username: 'ann', limit });
    expect(rows.map((r) => r.tokenSerial)).toEqual(want.map((i) => `E${i}`));
  });

  test("recent for one user: only that user's events, newest first, however far back", async () => {
    await insert([
      event('ann', ago(90 * 24 * HOUR), { reason: 'old' }),
      ...Array.from({ length: 20 }, (_, i) => event('bob', ago(i * 1000))),
      event('ann', ago(2500), { reason: 'new' }),
    ]);
    expect((await audit.recent({ username: 'ann' })).map((r) => r.reason)).toEqual(['new', 'old']);
    expect(await audit.recent({ username: 'nobody' })).toEqual([]);
    expect((await audit.recent({ limit: 5 })).map((r) => r.username)).toEqual(['bob', 'bob', 'bob', 'ann', 'bob']);
  });

  test('the trail has no B-tree to maintain besides its key; time is indexed by BRIN', async () => {
    const { rows } = await sql<{ indexdef: string }>`SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_event' ORDER BY indexname`.execute(conn.db);
    expect(rows.map((r) => r.indexdef.replace(/ ON public\.audit_event USING /, ' '))).toEqual([
      'CREATE INDEX audit_event_at_brin brin (at)',
      'CREATE UNIQUE INDEX audit_event_pkey btree (id)',
    ]);
  });
});

describe('AuditRepository.prune', () => {
  const DAY = 24 * HOUR;
  let now = Date.now();
  beforeEach(() => (now = Date.now()));
  const cutoff = () => new Date(now - 30 * DAY);

  /** Writes one event per age (in days before `now`), in this order (so ids follow it), each named by its index. */
  async function writeInOrder(agesInDays: number[]): Promise<void> {
    for (const [i, days] of agesInDays.entries()) await insert([event('ann', new Date(now - days * DAY), { tokenSerial: `E${i}` })]);
  }
  const remaining = async () => (await sql<{ token_serial: string }>`SELECT token_serial FROM audit_event ORDER BY id`.execute(conn.db)).rows.map((r) => r.token_serial);

  // Events are written in the order given (ages in days); the cutoff is 30 days back.
  test.each([
    { name: 'nothing to delete', ages: [3, 2, 1], batch: 2, deleted: 0, kept: ['E0', 'E1', 'E2'] },
    { name: 'an empty trail', ages: [], batch: 2, deleted: 0, kept: [] },
    { name: 'all old, over several batches', ages: [90, 80, 70, 60, 50], batch: 2, deleted: 5, kept: [] },
    { name: 'all old, the last batch exactly full', ages: [90, 80, 70, 60], batch: 2, deleted: 4, kept: [] },
    { name: 'old then new: the old go', ages: [400, 45, 31, 29, 1], batch: 2, deleted: 3, kept: ['E3', 'E4'] },
    { name: 'an event exactly at the cutoff stays', ages: [31, 30, 29], batch: 10, deleted: 1, kept: ['E1', 'E2'] },
    // A late-written old event (a backlog after an outage) among newer ids goes once its batch is reached...
    { name: 'a late event in the batch that reaches the cutoff goes', ages: [60, 5, 60], batch: 10, deleted: 2, kept: ['E1'] },
    // ...and waits for a later round when the walk stops before it.
    { name: 'a late event past the first new batch waits', ages: [60, 5, 4, 60], batch: 1, deleted: 1, kept: ['E1', 'E2', 'E3'] },
  ])('$name', async ({ ages, batch, deleted, kept }) => {
    await writeInOrder(ages);
    expect(await audit.countBefore(cutoff())).toBe(ages.filter((d) => d > 30).length);
    expect(await audit.prune(cutoff(), { batch })).toEqual({ deleted, busy: false });
    expect(await remaining()).toEqual(kept);
  });

  /** Holds the pruning lock in a session of its own until the returned function is called. */
  async function holdLock(): Promise<() => Promise<void>> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('SELECT pg_advisory_lock($1::bigint)', [AUDIT_PRUNE_LOCK.toString()]);
    return async () => {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [AUDIT_PRUNE_LOCK.toString()]);
      await client.end();
    };
  }

  test('while another node prunes, a node gives the round up and deletes nothing', async () => {
    await writeInOrder([90, 80]);
    const release = await holdLock();
    try {
      expect(await audit.prune(cutoff())).toEqual({ deleted: 0, busy: true });
      expect(await remaining()).toEqual(['E0', 'E1']);
    } finally {
      await release();
    }
    expect(await audit.prune(cutoff())).toEqual({ deleted: 2, busy: false });
  });

  test('with wait, a prune waits for the lock and then deletes', async () => {
    await writeInOrder([90, 1]);
    const release = await holdLock();
    const pruning = audit.prune(cutoff(), { wait: true });
    let settled = false;
    void pruning.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    await release();
    expect(await pruning).toEqual({ deleted: 1, busy: false });
    expect(await remaining()).toEqual(['E1']);
  });

  test('a stop signal ends the walk between batches: what was deleted stays deleted, the rest waits', async () => {
    await writeInOrder([90, 80, 70]);
    let checks = 0;
    const signal = { get aborted() { return ++checks > 1; } }; // set while the first batch runs
    expect(await audit.prune(cutoff(), { batch: 1, signal })).toEqual({ deleted: 1, busy: false });
    expect(await remaining()).toEqual(['E1', 'E2']);
  });

  test("inside a caller's transaction the deletions are its own: rolled back, nothing is gone", async () => {
    await writeInOrder([90, 80, 70]);
    await expect(
      conn.db.transaction().execute(async (tx) => {
        const inTx = new AuditRepository(tx, poolRunner(conn.auditPool));
        expect(await inTx.prune(cutoff(), { batch: 1 })).toEqual({ deleted: 3, busy: false });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await remaining()).toEqual(['E0', 'E1', 'E2']);
  });
});
