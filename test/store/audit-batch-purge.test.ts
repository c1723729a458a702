import { CompiledQuery, sql } from 'kysely';
import { oldBatchIdsDeletion } from '../../src/store/audit';
import type { Connection } from '../../src/store/connect';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';

/*
 * Every node forgets audit batch ids older than a day, once a minute (AuditRepository.forgetOldBatchIds).
 * audit_batch gets a row per batch, and at a steady, moderate rate a batch is a few events (one flush every
 * 50 ms), so the table holds a day of them: a soak at ~100 requests/s grew it by ~17 rows/s, 1.5 million a
 * day. The purge must find the old ids by time, not read the whole day each minute on every node.
 */
let db: MigratedDatabase;
let conn: Connection;

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
});

afterAll(async () => {
  await db.close();
});

test('with a day of batch ids, the minute purge reads an index on written_at, not the whole table', async () => {
  // a day of batches, one every 4 s here (20 000 rows), and a few past the day
  await sql`INSERT INTO audit_batch (id, written_at)
    SELECT gen_random_uuid(), now() - make_interval(secs => g * 4 - 2) FROM generate_series(1, 22000) g`.execute(conn.db);
  await sql`ANALYZE audit_batch`.execute(conn.db);
  // the very statement forgetOldBatchIds sends, with its parameters
  const purge = oldBatchIdsDeletion(conn.db).compile();
  const plan = await conn.db.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`EXPLAIN ${purge.sql}`, [...purge.parameters]));
  const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
  expect(text).toContain('audit_batch_written_at_idx');
  expect(text).not.toContain('Seq Scan');
  const r = await oldBatchIdsDeletion(conn.db).executeTakeFirst();
  expect(Number(r.numDeletedRows)).toBe(22000 - 21600); // those more than 86 400 s old
});
