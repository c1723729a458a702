import { randomBytes } from 'node:crypto';
import { radclient } from '../support/radclient';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText, sampleIn } from '../support/metrics';

/*
 * A wrong login in the append style costs every name the same number of password hashes: one per way the
 * field splits over the code lengths in use in the deployment. A server learns those lengths from the
 * database, and again when tokens change on any node (here: the admin's store, as the CLI would). Read
 * from radotp_password_hashes_total, as an operator would see it.
 */
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    clients: [{ name: 'nas', address: '127.0.0.1', loginStyle: 'append' }],
    users: [
      { username: 'ann', password: 'ann-password', method: 'token' },
      { username: 'bob', password: 'bob-password', method: 'token' },
      { username: 'pam', password: 'pam-password', method: 'password' },
    ],
  });
  const ann = await t.store.users.get('ann');
  await t.store.tokens.create({ serial: 'ANN-6', userId: ann.id, origin: 'software', kind: 'totp', state: 'active', algorithm: 'sha1', digits: 6, seed: randomBytes(20) });
});
afterAll(() => t?.close());

async function hashCounts(): Promise<{ check: number; decoy: number }> {
  const text = await metricsText(t);
  const count = (purpose: string) => sampleIn(text, 'radotp_password_hashes_total', `purpose="${purpose}"`) ?? 0;
  return { check: count('check'), decoy: count('decoy') };
}

/** The hashes one rejected append login cost. */
async function wrongLogin(username: string, typed: string): Promise<{ check: number; decoy: number }> {
  const before = await hashCounts();
  const r = await radclient({ port: t.port, secret: TEST_SECRET, pairs: `User-Name="${username}",User-Password="${typed}",Message-Authenticator=0x00`, timeoutS: 3 });
  expect(r.reply).toBe('Access-Reject');
  const after = await hashCounts();
  return { check: after.check - before.check, decoy: after.decoy - before.decoy };
}

/** Asks until the server has heard of the token change (notification, then a moment for the burst to settle). */
async function priceBecomes(hashes: number, typed: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const paid = await wrongLogin('nobody', typed);
    if (paid.decoy === hashes || Date.now() > deadline) return expect(paid).toEqual({ check: 0, decoy: hashes });
    await new Promise((r) => setTimeout(r, 200));
  }
}

// [name, typed, hashes paid (checks against the user's hash, decoys)] with only 6-digit tokens in use, then with 8-digit ones too
const onlySix: [string, string, { check: number; decoy: number }][] = [
  ['nobody', 'wrong12345678', { check: 0, decoy: 1 }],
  ['ann', 'wrong12345678', { check: 1, decoy: 0 }],
  ['pam', 'wrong12345678', { check: 1, decoy: 0 }],
  ['bob', 'wrong12345678', { check: 1, decoy: 0 }], // no token: split at the lengths in use, as a token holder's field is
];
const sixAndEight: typeof onlySix = [
  ['nobody', 'wrong12345678', { check: 0, decoy: 2 }],
  ['ann', 'wrong12345678', { check: 1, decoy: 1 }],
  ['pam', 'wrong12345678', { check: 1, decoy: 1 }],
  ['nobody', 'wrong123456', { check: 0, decoy: 1 }], // ends in 6 digits only: one split for everyone
  ['ann', 'wrong123456', { check: 1, decoy: 0 }],
];

describe('with only 6-digit tokens in use', () => {
  beforeAll(() => priceBecomes(1, 'wrong12345678'));
  test.each(onlySix)('%s typing %j pays %o', async (username, typed, paid) => {
    expect(await wrongLogin(username, typed)).toEqual(paid);
  });
});

describe('once an 8-digit token is active somewhere', () => {
  beforeAll(async () => {
    const bob = await t.store.users.get('bob');
    await t.store.tokens.create({ serial: 'BOB-8', userId: bob.id, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 8, seed: randomBytes(20) });
    await priceBecomes(2, 'wrong12345678');
  });
  test.each(sixAndEight)('%s typing %j pays %o', async (username, typed, paid) => {
    expect(await wrongLogin(username, typed)).toEqual(paid);
  });
  test("bob's own 8-digit token: one real check (the 8-digit split), a decoy for the 6-digit one", async () => {
    expect(await wrongLogin('bob', 'wrong12345678')).toEqual({ check: 1, decoy: 1 });
  });
  test('a user holding tokens of both lengths: both splits are real checks, no decoy', async () => {
    const ann = await t.store.users.get('ann');
    await t.store.tokens.create({ serial: 'ANN-8', userId: ann.id, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 8, seed: randomBytes(20) });
    const deadline = Date.now() + 10_000;
    let paid = await wrongLogin('ann', 'wrong12345678');
    while (paid.check < 2 && Date.now() < deadline) paid = await wrongLogin('ann', 'wrong12345678'); // her cached tokens are dropped on the notification
    expect(paid).toEqual({ check: 2, decoy: 0 });
  });
});

test('and when no 8-digit token is active any more, the price drops back', async () => {
  for (const serial of ['BOB-8', 'ANN-8']) await t.store.tokens.update(serial, { state: 'disabled', disabled_reason: 'lost' });
  await priceBecomes(1, 'wrong12345678');
});
