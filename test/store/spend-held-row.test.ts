import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { connect, type Connection } from '../../src/store/connect';
import { lockBoundedRunner, poolRunner, type StatementRunner } from '../../src/store/prepared';
import { TokenRepository } from '../../src/store/tokens';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * Every spend of an event-loop turn goes as ONE guarded UPDATE. Token rows another session holds (a transaction left
 * open on them) held up that statement until database.queryTimeout, and every other spend in it with them. Here two
 * nodes (a connection each, with its spend pool) spend the same codes at the same instant, in batches that also
 * carry two held rows: the free tokens' codes are decided at once and accepted once across both nodes; the held
 * ones wait, and once let go are accepted once too (the guard, not the fallback, decides who wins).
 */
const FREE = ['F1', 'F2', 'F3', 'F4'];
const HELD = ['H1', 'H2'];
/** Tokens all held at once, as `keys rotate` holds every token row in one transaction. */
const MANY = Array.from({ length: 12 }, (_, i) => `M${String(i + 1).padStart(2, '0')}`);
const keys = new KeyRing(masterKeyFromBytes(randomBytes(32)));

let db: MigratedDatabase;
const nodes: Connection[] = [];
const ids = new Map<string, { id: bigint; userId: bigint }>();

beforeAll(async () => {
  db = await createMigratedDatabase();
  const tokens = tokenRepository(db.conn, keys);
  for (const serial of [...HELD, ...FREE, ...MANY]) {
    const userId = (await sql<{ id: bigint }>`INSERT INTO app_user (username, method) VALUES (${serial.toLowerCase()}, 'token') RETURNING id`.execute(db.conn.db)).rows[0]!.id;
    await tokens.create({ serial, userId, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomBytes(20) });
    ids.set(serial, { id: (await tokens.get(serial))!.id, userId });
  }
  for (let i = 0; i < 2; i++) nodes.push(connect(db.url, { poolSize: 4, queryTimeoutMs: 10_000, applicationName: `node-${i}` }));
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await db?.close();
});

test('held rows in a batch: the free tokens decided within a second, each code accepted once across two nodes; the held ones once let go', async () => {
  const locker = new pg.Client({ connectionString: db.url });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT id FROM token WHERE serial = ANY($1) FOR UPDATE', [HELD]);
  const started = performance.now();
  let released = false;
  try {
    const repos = nodes.map((n) => new TokenRepository(n.db, keys, poolRunner(n.pool), lockBoundedRunner(n.spendPool)));
    const opened = nodes.map(() => 0);
    nodes.forEach((n, i) => n.spendPool.on('connect', () => opened[i]!++));
    // one turn on each node: every spend in one statement per node, the held rows among them
    const spends = repos.map((repo) => [...HELD, ...FREE].map((serial) => repo.acceptCounter(ids.get(serial)!, 0n).then((won) => ({ serial, won, ms: performance.now() - started, released }))));
    // the free ones decided while the rows are still held (the held ones are let go only below)
    const free = await Promise.all(spends.flatMap((s) => s.slice(HELD.length)));
    const wonPerFree = Object.fromEntries(FREE.map((serial) => [serial, free.filter((r) => r.serial === serial && r.won).length]));
    // measured: 180-300 ms (the batch's 100 ms lock wait, then the spends alone, the held ones' own 100 ms taking
    // the pool's connections meanwhile); before, nothing until database.queryTimeout (here 10 s)
    expect({ wonPerFree, withinASecond: free.every((r) => r.ms < 1000) }).toEqual({ wonPerFree: Object.fromEntries(FREE.map((serial) => [serial, 1])), withinASecond: true });
    await new Promise((r) => setTimeout(r, 300)); // the held ones still wait
    released = true;
    await locker.query('ROLLBACK');
    const held = await Promise.all(spends.flatMap((s) => s.slice(0, HELD.length)));
    expect(held.every((r) => r.released)).toBe(true);
    // a statement whose lock wait ran out was rolled back, its session fine: its connection is kept, not opened anew
    expect(opened.map((n, i) => n <= nodes[i]!.spendPool.options.max!)).toEqual([true, true]);
    expect(Object.fromEntries(HELD.map((serial) => [serial, held.filter((r) => r.serial === serial && r.won).length]))).toEqual(Object.fromEntries(HELD.map((serial) => [serial, 1])));
  } finally {
    if (!released) await locker.query('ROLLBACK');
    await locker.end();
  }
  const counters = await sql<{ serial: string; next_counter: bigint }>`SELECT serial, next_counter FROM token WHERE serial = ANY(${[...FREE, ...HELD]}) ORDER BY serial`.execute(db.conn.db);
  expect(counters.rows.map((r) => [r.serial, Number(r.next_counter)])).toEqual([...FREE, ...HELD].sort().map((s) => [s, 1]));
}, 30_000);


/*
 * Every row of a batch held (`keys rotate` re-seals every token in one transaction): each spend sent alone would
 * wait out its own lock wait, the spend pool kept busy, and all of them wait anyway. Past a few found held alone,
 * the rest wait together in one statement with the ordinary wait, and are accepted once let go.
 */
test('every row of a batch held: a few spends tried alone, the rest wait together, all accepted once let go', async () => {
  const locker = new pg.Client({ connectionString: db.url });
  await locker.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT id FROM token WHERE serial = ANY($1) FOR UPDATE', [MANY]);
  const node = nodes[0]!;
  const calls = { bounded: 0, ordinary: 0 };
  const counting = (run: StatementRunner, kind: keyof typeof calls): StatementRunner => (statement, values) => {
    calls[kind]++;
    return run(statement, values);
  };
  const repo = new TokenRepository(node.db, keys, counting(poolRunner(node.pool), 'ordinary'), counting(lockBoundedRunner(node.spendPool), 'bounded'));
  let released = false;
  try {
    const spends = MANY.map((serial) => repo.acceptCounter(ids.get(serial)!, 0n).then((won) => ({ won, released })));
    await new Promise((r) => setTimeout(r, 1000));
    released = true;
    await locker.query('ROLLBACK');
    const results = await Promise.all(spends);
    expect(results).toEqual(MANY.map(() => ({ won: true, released: true })));
    // the batch, at most 3 found held alone (and one more already sent by the other of the two at once), then one
    // statement for the rest: not one lock wait per spend
    expect({ boundedAtMost5: calls.bounded <= 5, ordinary: calls.ordinary }).toEqual({ boundedAtMost5: true, ordinary: 1 });
  } finally {
    if (!released) await locker.query('ROLLBACK');
    await locker.end();
  }
}, 30_000);
