import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Connection } from '../../src/store/connect';
import type { Db } from '../../src/store/connect';
import type { TokenRepository } from '../../src/store/tokens';
import { importUsersInTransaction } from '../../src/store/user-import';
import { loadLoginDataPage } from '../../src/store/login-data';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * A site has 100 000 tokens. Each of these statements is about one serial or a handful, yet without an index
 * for it each read the whole token table (or the whole of its serial index), measured at 100 000 tokens on
 * PostgreSQL 15:
 *   - a serial typed in another case than stored (`lower(serial) = lower($1)`: token show/disable/delete...,
 *     and `radotp token show` of a serial that does not exist at all): 35 ms, 387 pages, every time;
 *   - token import's and user import's case checks: 38 ms and 55 ms (a seq scan) per chunk of serials;
 *   - the code lengths in use, read on an append-style login of a user without a usable token (a name anyone
 *     can send): 24 ms, a seq scan of 2 764 pages, per such Access-Request;
 *   - a server warming its login cache at start, a page of 1 000 users at a time: each page read every token
 *     (a hash join over a seq scan, 25 ms), 100 pages for 100 000 users, so the warm-up grew with users x tokens.
 * Each runs here, on the real repository method, inside a transaction whose own statistics
 * (pg_stat_xact_*) count the rows read from the token table and from every index of it.
 */
let db: MigratedDatabase;
let conn: Connection;
let tokens: TokenRepository;
const keys = new KeyRing(masterKeyFromBytes(randomBytes(32)));

const TOKENS = 20_000;

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  tokens = tokenRepository(conn, keys);
  // one sealed seed for every token (a seal is not bound to its row): the login cache opens them
  await sql`INSERT INTO app_user (username, method) SELECT 'user' || g, 'otp' FROM generate_series(1, ${TOKENS}) g`.execute(conn.db);
  // most tokens assigned and active, the rest in the pool; serials stored in upper case, as vendors ship them
  await sql`INSERT INTO token (serial, user_id, origin, kind, state, seed_sealed)
    SELECT 'GAL' || lpad(g::text, 8, '0'), u.id, 'hardware', 'totp', CASE WHEN u.id IS NULL THEN 'unassigned' ELSE 'active' END, ${tokens.sealSeed(randomBytes(20))}
    FROM generate_series(1, ${TOKENS}) g LEFT JOIN app_user u ON u.username = 'user' || g AND g <= ${TOKENS * 0.9}`.execute(conn.db);
  await sql`ANALYZE app_user, token`.execute(conn.db);
}, 60_000);

afterAll(async () => {
  await db.close();
});

/** Rows read of token and of its indexes by `run`, in the transaction it runs in (rolled back after). */
async function tokenRowsRead(run: (tx: Db) => Promise<unknown>): Promise<number> {
  let read = -1;
  await conn.db
    .transaction()
    .execute(async (tx) => {
      // a backend's counts not yet flushed include its earlier transactions': the difference is this one's
      const before = await rowsReadSoFar(tx);
      await run(tx);
      read = (await rowsReadSoFar(tx)) - before;
      throw new RolledBack();
    })
    .catch((e) => {
      if (!(e instanceof RolledBack)) throw e;
    });
  return read;
}
class RolledBack extends Error {}

async function rowsReadSoFar(tx: Db): Promise<number> {
  const r = await sql<{ n: string }>`
    SELECT (SELECT coalesce(seq_tup_read, 0) FROM pg_stat_xact_user_tables WHERE relid = 'token'::regclass)
         + (SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0) FROM pg_index WHERE indrelid = 'token'::regclass) AS n`.execute(tx);
  return Number(r.rows[0]!.n);
}

const noWrite = async () => ({ users: [], assignments: [], summary: undefined });

/** [what an admin or a login does, the statement as the app runs it, what it must return, at most how many rows of token it reads] */
const ROWS: [string, (tx: Db) => Promise<unknown>, unknown, number][] = [
  ['a serial typed in lower case (token show gal…)', (tx) => tokens.serialsIgnoringCase('gal00004242', tx), ['GAL00004242'], 20],
  ['a serial that does not exist, in any case', (tx) => tokens.serialsIgnoringCase('nosuchserial', tx), [], 20],
  ['token import: serials of the file differing only by case from stored ones', (tx) => tokens.caseVariants(['gal00000007', 'NEW-1', 'new-2'], tx).then((m) => [...m]), [['gal00000007', 'GAL00000007']], 20],
  [
    'user import: the tokens its CSV names, in any case',
    (tx) => importUsersInTransaction(tx, [], ['gal00000009', 'GAL00000010'], noWrite, { dryRun: false }),
    undefined,
    20,
  ],
  ['the code lengths in use (append style, a user without a token)', (tx) => tokens.codeLengthsInUse(tx), [6], 20],
  [
    // as serve pages it: 1 000 users at a time; the page's tokens are read, and a few index entries past them
    "a page of the login cache's warm-up (1 000 users, after the first 10 000)",
    (tx) => loadLoginDataPage(tx, keys, 10_000n, 1000).then((p) => [p.data.length, p.data[0]!.user.username, p.data[0]!.tokens.map((t) => t.serial), p.lastUserId]),
    [1000, 'user10001', ['GAL00010001'], 11_000n],
    1_100,
  ],
];

test.each(ROWS)('%s: reads the rows it needs of token, not the table', async (_what, run, expected, most) => {
  let result: unknown;
  const read = await tokenRowsRead(async (tx) => void (result = await run(tx)));
  expect(result).toEqual(expected);
  // an index probe reads a row or two per serial (or per user); the scans read all 20 000
  expect(read).toBeLessThanOrEqual(most);
});
