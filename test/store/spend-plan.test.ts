import { SPEND_COUNTER, SPEND_STEP } from '../../src/store/spend-batcher';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';

/*
 * The spend is the one statement of a login with a right code (the hot path). Its guard reads app_user too (an
 * otp-only login's user must still log in with a token: see SpendBatcher). Its plan must stay what the batcher's
 * deadlock reasoning relies on and what keeps it cheap: a nested loop over the array, each token found by its
 * index (rows locked in the array's id order), the user's method one primary-key probe of app_user; never a scan
 * of either table. Checked on the generic plan (the one a prepared statement keeps) over tables large enough
 * for a scan to show.
 */
let db: MigratedDatabase;
beforeAll(async () => {
  db = await createMigratedDatabase();
  const c = await db.conn.pool.connect();
  try {
    await c.query(`INSERT INTO app_user (username, method) SELECT 'u' || g, 'token' FROM generate_series(1, 20000) g`);
    await c.query(`INSERT INTO token (serial, user_id, origin, kind, state, seed_sealed)
      SELECT 'T-' || u.id, u.id, 'hardware', 'totp', 'active', '\\x00' FROM app_user u`);
    await c.query('ANALYZE app_user');
    await c.query('ANALYZE token');
  } finally {
    c.release();
  }
});
afterAll(async () => {
  await db?.close();
});

// [statement, its parameters' types, a batch of three spends (one of them an otp-only login's)]
const rows: [string, string, string, string[]][] = [
  ['step', SPEND_STEP.text, 'bigint[], bigint[], int[], text[], bigint[], boolean[]', ['{3,5,9}', '{10,10,10}', '{0,0,0}', '{NULL,NULL,NULL}', '{3,5,9}', '{t,f,t}']],
  ['counter', SPEND_COUNTER.text, 'bigint[], bigint[], text[], bigint[], boolean[]', ['{3,5,9}', '{10,10,10}', '{NULL,NULL,NULL}', '{3,5,9}', '{t,f,t}']],
];
test.each(rows)('the %s spend: a nested loop over the array, token by an index, app_user by its primary key, no scan', async (_kind, text, types, params) => {
  const c = await db.conn.pool.connect();
  try {
    await c.query('SET plan_cache_mode = force_generic_plan');
    await c.query(`PREPARE spend_plan (${types}) AS ${text}`);
    // EXPLAIN EXECUTE takes no bound parameters: the arrays as literals (this file's own, nothing to quote)
    const plan = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE spend_plan (${params.map((p) => `'${p}'`).join(', ')})`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    // the array outside (its rows in id order), each token by an index (the planner may take token_user_idx,
    // user_id = the spender, as it did before the guard read app_user: one row either way)
    expect(plan).toMatch(/Nested Loop[^\n]*\n\s*->  Function Scan on v[^\n]*\n\s*->  Index Scan using \w+ on token/);
    // the method: a subplan probing app_user by its primary key, only for the rows the rest of the guard lets by
    expect(plan).toMatch(/OR \(SubPlan 1\)\)\)\n\s*SubPlan 1\n\s*->  Index Scan using app_user_pkey on app_user u/);
    expect(plan).not.toMatch(/Seq Scan|Hash|Merge Join|Sort|Bitmap/);
  } finally {
    await c.query('DEALLOCATE ALL');
    await c.query('RESET plan_cache_mode');
    c.release();
  }
});

/*
 * The plan checked above is the one a spend runs with: a connection of the spend pool plans the statement generically
 * from its first run (see GENERIC_PLANS in connect.ts). Left to itself, PostgreSQL makes a custom plan for each of a
 * prepared statement's first five runs, and for every later one while those looked cheaper, as one-spend batches do:
 * each spend planned anew, and not necessarily into the plan above.
 */
test('a spend connection runs the spend on its generic plan from the first statement, one-spend batches included', async () => {
  const c = await db.conn.spendPool.connect();
  try {
    for (let i = 0; i < 8; i++) {
      const rows = (await c.query<{ ids: string | null }>({ name: SPEND_STEP.name, text: SPEND_STEP.text, values: ['{3}', `{${100 + i}}`, '{0}', '{NULL}', '{3}', '{t}'] })).rows;
      expect(rows[0]?.ids).toBe('3'); // each spend won: the statement ran, on whatever plan
    }
    const plans = await c.query('SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name = $1', [SPEND_STEP.name]);
    expect(plans.rows).toEqual([{ generic: 8, custom: 0 }]);
  } finally {
    c.release();
  }
});
