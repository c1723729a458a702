import { Code } from '../../src/radius/types';
import { randomSeed } from '../support/otp-codes';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';

/*
 * The append style splits a user's field at the code lengths of their own tokens; a user holding none (and
 * auth.allowUsersWithoutToken off) is split at the deployment's, so that the right password followed by a
 * code is audited no_token and counts toward nobody's password lockout. The server's list of those lengths
 * is read again about a second after a token change: a login in that second must be decided as one after it.
 */
const PASSWORD = 'nob-password';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    clients: [{ name: 'nas', address: '127.0.0.1', loginStyle: 'append' }],
    users: [
      { username: 'ann', password: 'ann-password', method: 'token' },
      { username: 'eve', password: 'eve-password', method: 'token' },
      { username: 'nob', password: PASSWORD, method: 'token' },
    ],
  });
  const ann = (await t.store.users.get('ann')).id;
  await t.store.tokens.create({ serial: 'ANN-6', userId: ann, origin: 'software', kind: 'totp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomSeed() });
  await new Promise((r) => setTimeout(r, 2000)); // the node hears of the 6-digit token
});
afterAll(() => t?.close());

async function lastId(): Promise<string> {
  const r = await t.store.db.selectFrom('audit_event').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return String(r?.id ?? 0);
}

async function reasonsSince(id: string): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 200)); // the batch writer writes every 50 ms
  const rows = await t.store.db.selectFrom('audit_event').select('reason').where('id', '>', id as never).orderBy('id').execute();
  return rows.map((r) => r.reason);
}

async function passwordFailures(username: string): Promise<number> {
  const user = await t.store.users.get(username);
  const row = await t.store.db.selectFrom('password_lockout').select('fail_count').where('user_id', '=', user.id).executeTakeFirst();
  return row?.fail_count ?? 0;
}

test('the moment the first 8-digit token is active, a user without a token typing password+8 digits is no_token, not a wrong password', async () => {
  const eve = (await t.store.users.get('eve')).id;
  await t.store.tokens.create({ serial: 'EVE-8', userId: eve, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 8, seed: randomSeed() });
  // at once: well inside the second before the node reads the code lengths again
  const before = await lastId();
  const answer = await authenticate(t.port, { username: 'nob', password: `${PASSWORD}12345678`, secret: TEST_SECRET, timeoutMs: 3000 });
  expect(answer?.code).toBe(Code.AccessReject);
  expect(await reasonsSince(before)).toEqual(['no_token']);
  expect(await passwordFailures('nob')).toBe(0);
});

test('and a wrong password typed by that user is still one, counted', async () => {
  const before = await lastId();
  const failures = await passwordFailures('nob');
  const answer = await authenticate(t.port, { username: 'nob', password: 'wrong12345678', secret: TEST_SECRET, timeoutMs: 3000 });
  expect(answer?.code).toBe(Code.AccessReject);
  expect(await reasonsSince(before)).toEqual(['bad_password']);
  expect(await passwordFailures('nob')).toBe(failures + 1);
});
