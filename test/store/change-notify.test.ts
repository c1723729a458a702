import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import type { Connection } from '../../src/store/connect';
import type { TokenRepository } from '../../src/store/tokens';
import { UserRepository } from '../../src/store/users';
import { ClientRepository } from '../../src/store/clients';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { copyLegacySeeds } from '../../src/store/legacy-seed-copy';
import { rekeyAll } from '../../src/store/rekey';
import { createMigratedDatabase, tokenRepository, type MigratedDatabase } from '../support/test-database';

/*
 * What the nodes' caches hear about tokens (migration 0002, narrowed by 0005): every change an admin can
 * make, and a lockout, is notified on `radotp_changes`; a login spending a code is not (it changes only
 * replay state, which the guarded UPDATE decides on, not the cache).
 */
let db: MigratedDatabase;
let conn: Connection;
let tokens: TokenRepository;
let listener: pg.Client;
const heard: string[] = [];
const keys = new KeyRing(masterKeyFromBytes(randomBytes(32)));
/** The key `keys rotate` moves to; nodes hold both during the roll-out. */
const nextKey = masterKeyFromBytes(randomBytes(32));

beforeAll(async () => {
  db = await createMigratedDatabase();
  conn = db.conn;
  tokens = tokenRepository(conn, keys);
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (n) => heard.push(n.payload ?? ''));
  await listener.query('LISTEN radotp_changes');
});

afterAll(async () => {
  await listener.end();
  await db.close();
});

/** Notifications are sent at commit; give them a moment to arrive, then take what came. */
async function heardAfter(action: () => Promise<unknown>): Promise<string[]> {
  heard.length = 0;
  await action();
  await new Promise((r) => setTimeout(r, 150));
  return heard.splice(0);
}

async function newToken(username: string): Promise<{ id: bigint; userId: bigint; serial: string }> {
  const user = await new UserRepository(conn.db).add({ username, passwordHash: null, method: 'token' });
  const serial = `NOTIFY-${username}`;
  const t = await tokens.create({ serial, userId: user.id, origin: 'software', kind: 'totp', state: 'active', algorithm: 'sha1', digits: 6, period: 30, seed: randomBytes(20) });
  // the new token's own notification (token_added_or_removed) must not be taken for the change's
  const deadline = Date.now() + 5000;
  while (!heard.includes(`tokens:${user.id}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return { id: t.id, userId: user.id, serial };
}

const cases: { name: string; notified: boolean; change: (t: { id: bigint; userId: bigint; serial: string }) => Promise<unknown> }[] = [
  { name: 'a login spending a TOTP step', notified: false, change: (t) => tokens.acceptStep(t, 1000, 0) },
  { name: 'a login spending an HOTP counter', notified: false, change: (t) => tokens.acceptCounter(t, 5n) },
  { name: 'a wrong code below the lockout threshold', notified: false, change: (t) => tokens.recordFailure([t.id], [randomBytes(16)], 3, 60) },
  { name: 'the wrong code that locks the token', notified: true, change: (t) => tokens.recordFailure([t.id], [randomBytes(16)], 1, 60) },
  { name: 'an admin disabling the token', notified: true, change: (t) => tokens.update(t.serial, { state: 'disabled', disabled_reason: 'lost' }) },
  { name: 'a plain-SQL edit of the validity end', notified: true, change: (t) => sql`UPDATE token SET valid_to = now() + interval '1 day' WHERE id = ${t.id}`.execute(conn.db) },
  { name: 'a plain-SQL edit that changes nothing watched', notified: false, change: (t) => sql`UPDATE token SET state = state, description = 'desk' WHERE id = ${t.id}`.execute(conn.db) },
  // every release writes the seed into the token row (migration 0018 copies it into token_seed): a change of it, by
  // hand or by an older node, reaches the caches holding the old one opened
  { name: 'a plain-SQL edit of the sealed seed', notified: true, change: (t) => sql`UPDATE token SET seed_sealed = ${keys.seal(randomBytes(20), 'token-seed')} WHERE id = ${t.id}`.execute(conn.db) },
  {
    // every seed stays as it was, and the nodes hold both keys: it used to send one NOTIFY per token, and each node
    // dropped its whole login cache. Both parts of `keys rotate`: token_seed, then the token rows' legacy copies
    name: 'a key rotation re-sealing every seed',
    notified: false,
    change: async () => {
      await rekeyAll(conn.db, new KeyRing(keys.current, [nextKey]), new KeyRing(nextKey));
      expect(await copyLegacySeeds(conn.db)).toBeGreaterThan(0);
    },
  },
];

describe.each(cases)('$name', ({ notified, change }) => {
  test(notified ? 'is notified to every node' : 'is not notified', async () => {
    const t = await newToken(`u${randomBytes(4).toString('hex')}`);
    const got = await heardAfter(() => change(t));
    expect(got).toEqual(notified ? [`tokens:${t.userId}`] : []);
  });
});

/*
 * RADIUS clients (migration 0014): every change, through the repository or plain SQL, tells the nodes to read
 * their client table again, once per statement, and names nothing (least of all the secret).
 */
describe('RADIUS client changes', () => {
  const secret = 'client-secret-never-notified';
  const clients = () => new ClientRepository(conn.db, new KeyRing(masterKeyFromBytes(randomBytes(32))));
  const add = (name: string, address: string) =>
    clients().add({ name, address, secret: Buffer.from(secret), requireMessageAuthenticator: true, loginStyle: 'challenge' });

  const clientCases: { name: string; change: () => Promise<unknown>; heard: string[] }[] = [
    { name: 'client add', change: () => add('nas-add', '192.0.2.1'), heard: ['clients'] },
    { name: 'client set --secret', change: () => clients().update('nas-add', { secret: Buffer.from(`${secret}-2`) }), heard: ['clients'] },
    { name: 'client set --login', change: () => clients().update('nas-add', { loginStyle: 'append' }), heard: ['clients'] },
    { name: 'client remove', change: () => clients().remove('nas-add'), heard: ['clients'] },
    { name: 'a plain-SQL insert of two rows (one notification)', change: () => sql`INSERT INTO radius_client (name, address, secret_sealed) VALUES ('p1', '198.51.100.1', ''), ('p2', '198.51.100.2', '')`.execute(conn.db), heard: ['clients'] },
    { name: 'a plain-SQL TRUNCATE', change: () => sql`TRUNCATE radius_client`.execute(conn.db), heard: ['clients'] },
  ];

  test.each(clientCases)('$name is notified to every node, naming nothing', async ({ change, heard }) => {
    expect(await heardAfter(change)).toEqual(heard);
  });

  test('a client add that fails (name taken) is not notified: nothing was committed', async () => {
    await heardAfter(() => add('dup', '192.0.2.7'));
    expect(await heardAfter(() => add('dup', '192.0.2.8').catch(() => 'refused'))).toEqual([]);
  });
});
