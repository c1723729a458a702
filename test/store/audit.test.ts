import { sql } from 'kysely';
import { AuditRepository, type AuditEvent } from '../../src/store/audit';
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
