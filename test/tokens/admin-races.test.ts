import { randomBytes } from 'node:crypto';
import type { TokenInfo } from '../../src/store/tokens';
import type { TokenAdmin } from '../../src/tokens/admin';
import { AppFromUri } from '../support/otp-codes';
import { check, cluster, change, outcomes, type Cluster } from './race-support';

/*
 * Two admins change one token at the same moment, each through the CLI's path (the change and its audit
 * row in one transaction), many times over. Whatever the interleaving, the token must end in a state one
 * of them, run alone after the other, could have left: never a stolen token back in the pool, never an
 * active token without a user. An admin whose change could not be made is told so.
 */
let c: Cluster;
beforeAll(async () => {
  c = await cluster(2);
  for (const username of ['ann', 'bob']) await c.nodes[0].users.add({ username, passwordHash: null, method: 'token' });
});
afterAll(() => c.close());

let n = 0;
async function hardwareToken(setup: { user?: string; disabled?: boolean } = {}): Promise<string> {
  const serial = `R${++n}-${randomBytes(3).toString('hex')}`;
  const user = setup.user ? await c.nodes[0].users.get(setup.user) : undefined;
  await c.nodes[0].tokens.create({ serial, userId: user?.id ?? null, origin: 'hardware', kind: 'hotp', state: user ? 'active' : 'unassigned', algorithm: 'sha1', digits: 6, seed: randomBytes(20) });
  if (setup.disabled) await change(c.nodes[0], (a) => a.disable(serial, 'lost'));
  return serial;
}

type Op = (admin: TokenAdmin, serial: string) => Promise<unknown>;
const shape = (t: TokenInfo) => `${t.state}/${t.username ?? '-'}${t.disabledReason ? `/${t.disabledReason}` : ''}`;

interface Case {
  before: { user?: string; disabled?: boolean };
  one: Op;
  two: Op;
  /** The states the token may end in: those the two changes leave run one after the other, in either order. */
  after: string[];
  /** Whether both may succeed: in one order or the other the second change still makes sense. */
  both: boolean;
}

const cases: [string, string, string, Case][] = [
  ["ann's token", 'unassign', 'disable --reason stolen', { before: { user: 'ann' }, one: (a, s) => a.unassign(s), two: (a, s) => a.disable(s, 'stolen'), after: ['disabled/-/stolen', 'disabled/ann/stolen'], both: true }],
  [
    "ann's lost (disabled) token",
    'unassign',
    'enable',
    { before: { user: 'ann', disabled: true }, one: (a, s) => a.unassign(s), two: (a, s) => a.enable(s), after: ['active/ann', 'unassigned/-', 'disabled/-/lost'], both: true },
  ],
  // Two reasons: the one that reads the token disabled already changes the reason (saying from which, see
  // TokenAdmin.disable); one that read it active and finds it disabled meanwhile is refused, naming the reason.
  ["ann's token", 'disable --reason lost', 'disable --reason stolen', { before: { user: 'ann' }, one: (a, s) => a.disable(s, 'lost'), two: (a, s) => a.disable(s, 'stolen'), after: ['disabled/ann/lost', 'disabled/ann/stolen'], both: true }],
  // The same reason twice: never both told they disabled it.
  ["ann's token", 'disable --reason lost', 'disable --reason lost', { before: { user: 'ann' }, one: (a, s) => a.disable(s, 'lost'), two: (a, s) => a.disable(s, 'lost'), after: ['disabled/ann/lost'], both: false }],
  ["ann's token", 'unassign', 'unassign', { before: { user: 'ann' }, one: (a, s) => a.unassign(s), two: (a, s) => a.unassign(s), after: ['unassigned/-'], both: false }],
  ['a pool token', 'assign ann', 'assign bob', { before: {}, one: (a, s) => a.assign(s, 'ann'), two: (a, s) => a.assign(s, 'bob'), after: ['active/ann', 'active/bob'], both: false }],
  ['a pool token', 'assign ann', 'disable --reason lost', { before: {}, one: (a, s) => a.assign(s, 'ann'), two: (a, s) => a.disable(s, 'lost'), after: ['disabled/-/lost', 'disabled/ann/lost'], both: true }],
];

test.each(cases)('%s: `token %s` and `token %s` at once, 25 times', async (_before, _one, _two, k) => {
  const [one, two] = c.nodes;
  for (let i = 0; i < 25; i++) {
    const serial = await hardwareToken(k.before);
    const done = await outcomes(change(one, (a) => k.one(a, serial)), change(two, (a) => k.two(a, serial)));
    expect(k.after).toContain(shape(await one.tokens.get(serial)));
    const succeeded = done.filter((d) => d.ok).length;
    expect(succeeded).toBeGreaterThanOrEqual(1);
    if (!k.both) expect(succeeded).toBe(1);
    // an admin told "done" has an audit row; one refused has none, and is told why
    const audited = await one.db.selectFrom('audit_event').select('method').where('token_serial', '=', serial).where('result', '=', 'admin').execute();
    expect(audited.length - (k.before.disabled ? 1 : 0)).toBe(succeeded);
    for (const d of done) if (!d.ok) expect(d.error).toMatch(new RegExp(`token ${serial} (changed meanwhile|is already|is not|is disabled)`));
  }
}, 60_000);

/*
 * `token activate` of one pending token, by two admins with the same code at once: the code is used once
 * (one activation, one accept in the audit trail), and the admin who came second is told the token was
 * activated meanwhile, not that the code "does not match" and the token "stays pending" (it is active).
 */
test('`token activate SERIAL CODE` twice at once, 20 times: one activates, the other hears so', async () => {
  const [one, two] = c.nodes;
  for (let i = 0; i < 20; i++) {
    const e = await check(one, (a) => a.enroll({ username: 'ann', type: 'hotp', algorithm: 'sha1', digits: 6, period: 30, issuer: 'T' }));
    const code = new AppFromUri(e.otpauthUri).hotp(0);
    const serial = e.token.serial;
    const done = await outcomes(check(one, (a) => a.activate(serial, code)), check(two, (a) => a.activate(serial, code)));
    expect(done.filter((d) => d.ok)).toHaveLength(1);
    expect(done.find((d) => !d.ok)!.error).toMatch(new RegExp(`^token ${serial} (was activated meanwhile|is active, not pending)`));
    expect((await one.tokens.get(serial)).state).toBe('active');
    const audited = await one.db.selectFrom('audit_event').select('result').where('token_serial', '=', serial).where('method', '=', 'token activate').execute();
    expect(audited.filter((r) => r.result === 'accept')).toHaveLength(1);
  }
}, 60_000);

/*
 * A token handed to a user another admin removes at that moment: either the token went to the user first
 * (and the removal then took it back, or deleted it with the user) or the user was gone first, and the
 * admin hears "no user named …", as when the user never existed; not PostgreSQL's foreign-key message.
 */
test.each([
  ['token enroll', (a: TokenAdmin, username: string) => a.enroll({ username, type: 'totp', algorithm: 'sha1', digits: 6, period: 30, issuer: 'T' }), false],
  ['token assign', async (a: TokenAdmin, username: string) => a.assign(await hardwareToken(), username), true],
] as const)('`%s` to a user `user remove` removes at that moment, 20 times', async (_what, op, inTransaction) => {
  const [one, two] = c.nodes;
  for (let i = 0; i < 20; i++) {
    const username = `gone${++n}`;
    await one.users.add({ username, passwordHash: null, method: 'token' });
    const give = inTransaction ? change(one, (a) => op(a, username)) : check(one, (a) => op(a, username));
    const [given, removed] = await outcomes(give, two.users.remove(username));
    expect(removed.ok).toBe(true);
    if (!given.ok) expect(given.error).toBe(`no user named "${username}"`);
  }
}, 60_000);
