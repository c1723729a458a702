import { cliFor, ok } from '../support/pool-cli';
import { randomSeed } from '../support/otp-codes';
import { startTestServer, type TestServer } from '../support/server';

/*
 * `radotp user remove` changes the user's tokens too: a software token is deleted, a hardware token goes back to
 * the pool (a disabled one stays disabled). Each is audited under its serial, as `token delete` and `token unassign`
 * are: the trail had the user's removal alone, and `radotp audit` showed no row for the tokens it changed.
 */

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ users: [{ username: 'ivy', password: 'ivy-password', method: 'token' }] });
  const userId = (await t.store.users.get('ivy')).id;
  const token = { userId, algorithm: 'sha1', digits: 6, kind: 'totp', seed: randomSeed() } as const;
  await t.store.tokens.create({ ...token, serial: 'SOFT-IVY', origin: 'software', state: 'active' });
  await t.store.tokens.create({ ...token, serial: 'HARD-IVY', origin: 'hardware', state: 'active' });
  await t.store.tokens.create({ ...token, serial: 'LOST-IVY', origin: 'hardware', state: 'disabled', disabledReason: 'lost' } as never);
});
afterAll(() => t?.close());

test('removing a user audits the removal and what became of each of their tokens, in one transaction', async () => {
  await ok(cliFor(t), ['user', 'remove', 'ivy']);
  const rows = await t.store.db.selectFrom('audit_event').select(['username', 'result', 'reason', 'method', 'token_serial']).where('method', '=', 'user remove').orderBy('id').execute();
  expect(rows).toEqual(
    expect.arrayContaining([
      { username: 'ivy', result: 'admin', reason: 'removed', method: 'user remove', token_serial: null },
      { username: 'ivy', result: 'admin', reason: 'deleted', method: 'user remove', token_serial: 'SOFT-IVY' },
      { username: 'ivy', result: 'admin', reason: 'unassigned', method: 'user remove', token_serial: 'HARD-IVY' },
      { username: 'ivy', result: 'admin', reason: 'unassigned', method: 'user remove', token_serial: 'LOST-IVY' },
    ]),
  );
  expect(rows).toHaveLength(4);
  const tokens = await t.store.db.selectFrom('token').select(['serial', 'state', 'user_id']).orderBy('serial').execute();
  expect(tokens).toEqual([
    { serial: 'HARD-IVY', state: 'unassigned', user_id: null },
    { serial: 'LOST-IVY', state: 'disabled', user_id: null },
  ]);
});
