import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Connection, Db } from '../../src/store/connect';
import { connectionRunner } from '../../src/store/prepared';
import { TokenRepository } from '../../src/store/tokens';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * Every accepted code and every wrong one updates its token row. The token table's indexes (serial, user,
 * pending expiry, lower(serial) of 0016, the code lengths of 0017) are on columns a login never writes, so each
 * such update is a heap-only-tuple update: no index is touched (see 0003). An index on a column a login writes
 * (last_step, next_counter, fail_count, last_used_at...) would put an insert into every index on each login.
 * Each login's statement runs here, as the app sends it, in a transaction whose own statistics count the
 * updates and the HOT ones.
 */
let db: MigratedDatabase;
let conn: Connection;
const keys = new KeyRing(masterKeyFromBytes(randomBytes(32)));

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  const userId = (await sql<{ id: bigint }>`INSERT INTO app_user (username, method) VALUES ('alice', 'token') RETURNING id`.execute(conn.db)).rows[0]!.id;
  const tokens = tokenRepository(conn, keys);
  await tokens.create({ serial: 'TOTP-1', userId, origin: 'software', kind: 'totp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomBytes(20) });
  await tokens.create({ serial: 'HOTP-1', userId, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomBytes(20) });
});

afterAll(async () => {
  await db.close();
});

async function updatesSoFar(tx: Db): Promise<{ all: number; hot: number }> {
  const r = await sql<{ all: string; hot: string }>`SELECT n_tup_upd AS all, n_tup_hot_upd AS hot FROM pg_stat_xact_user_tables WHERE relid = 'token'::regclass`.execute(tx);
  return { all: Number(r.rows[0]!.all), hot: Number(r.rows[0]!.hot) };
}

/** [a login's write, it (on the repository and the token, in the test's transaction)] */
const WRITES: [string, (tokens: TokenRepository, t: { id: bigint; userId: bigint | null }) => Promise<unknown>][] = [
  ['a TOTP code accepted (the spend of its step)', (tokens, t) => tokens.acceptStep(t, 1_000_000, 0, { spentBy: randomBytes(16) })],
  ['an HOTP code accepted (the spend of its counter)', (tokens, t) => tokens.acceptCounter(t, 5n, { spentBy: randomBytes(16) })],
  ['a wrong code counted', (tokens, t) => tokens.recordFailure([t.id], [randomBytes(32)], 5, 60)],
];

test.each(WRITES)('%s: one heap-only-tuple update, no index touched', async (what, write) => {
  const serial = what.includes('HOTP') ? 'HOTP-1' : 'TOTP-1';
  await conn.db
    .transaction()
    .execute(async (tx) => {
      const tokens = new TokenRepository(tx, keys, connectionRunner(tx));
      const t = (await tokens.get(serial, tx))!;
      // a backend's counts not yet flushed include its earlier transactions': the difference is this one's
      const before = await updatesSoFar(tx);
      await write(tokens, { id: t.id, userId: t.userId });
      const after = await updatesSoFar(tx);
      expect({ all: after.all - before.all, hot: after.hot - before.hot }).toEqual({ all: 1, hot: 1 });
      throw new RolledBack();
    })
    .catch((e) => {
      if (!(e instanceof RolledBack)) throw e;
    });
});
class RolledBack extends Error {}
