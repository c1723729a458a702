import { sql } from 'kysely';
import { AuditRepository } from '../../src/store/audit';
import { poolRunner } from '../../src/store/prepared';
import { Code } from '../../src/radius/types';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText } from '../support/metrics';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';

const DAY = 86_400_000;

/** Two servers, each on a database holding events of these ages (days back), one with audit.retention. */
describe.each([
  { retention: '30d', kept: ['1d', '29d'], pruned: 2 },
  { retention: null, kept: ['1d', '29d', '31d', '400d'], pruned: 0 },
])('audit.retention: $retention', ({ retention, kept, pruned }) => {
  let db: MigratedDatabase;
  let t: TestServer;
  beforeAll(async () => {
    db = await createMigratedDatabase();
    const audit = new AuditRepository(db.conn.db, poolRunner(db.conn.auditPool));
    const event = (days: number) => ({ at: Date.now() - days * DAY, node: 'old-node', username: 'ann', result: 'reject', reason: `${days}d` });
    await audit.insertJson(JSON.stringify([400, 31, 29, 1].map(event)));
    t = await startTestServer({ database: { url: db.url }, config: { audit: { retention } }, users: [{ username: 'alice', password: 'alice-password' }] });
  });
  afterAll(async () => {
    await t?.close();
    await db?.close();
  });

  const seededReasons = async () =>
    (await sql<{ reason: string }>`SELECT reason FROM audit_event WHERE node = 'old-node' ORDER BY at DESC`.execute(db.conn.db)).rows.map((r) => r.reason);

  test('events older than the retention are gone soon after start; the rest, and new logins, stay', async () => {
    // A login answered means the server is up; its first round started as the port opened.
    expect((await authenticate(t.port, { username: 'alice', password: 'alice-password', secret: TEST_SECRET }))!.code).toBe(Code.AccessAccept);
    const deadline = Date.now() + 10_000;
    while ((await seededReasons()).length > kept.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const metrics = await metricsText(t);
    expect(metrics).toMatch(new RegExp(`^radotp_audit_pruned_total ${pruned}$`, 'm'));
    await t.server.stop(); // waits for a round still running; what the trail holds then is final
    expect(await seededReasons()).toEqual(kept);
    const logins = await sql<{ n: string }>`SELECT count(*) AS n FROM audit_event WHERE username = 'alice'`.execute(db.conn.db);
    expect(Number(logins.rows[0].n)).toBe(1);
  });
});
