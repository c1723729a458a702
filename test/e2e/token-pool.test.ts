import { sql } from 'kysely';
import { hashPassword } from '../../src/auth/password-hash';
import { base32Decode } from '../../src/otp';
import { awayFromStepBoundary, currentStep, hotpForCounter, totpForStep } from '../support/otp-codes';
import { cliFor, newTokenUser, ok, refusalLine, type Cli } from '../support/pool-cli';
import { addPoolToken, adminOf, type PoolToken } from '../support/pool-tokens';
import { hotpKey, writePskcFile } from '../support/pskc-fixtures';
import { startTestServer, type TestServer } from '../support/server';
import { login, udpDriver, type LoginDriver } from '../support/two-step-login';

/*
 * The hardware token pool and lifecycle, through the real CLI and real RADIUS logins: which state
 * transitions are allowed and which are refused (with what words), and what each state means for a
 * login — including replay state surviving a trip back to the pool, validity ends, resync (never
 * backwards: LinOTP CVE-2019-12887), TOTP drift, and the HOTP look-ahead window.
 */

let t: TestServer;
let cli: Cli;
let radius: LoginDriver;
beforeAll(async () => {
  t = await startTestServer();
  cli = cliFor(t);
  radius = udpDriver(t.port);
});
afterAll(() => t?.close());

type User = { username: string; password: string };

async function assigned(kind: 'hotp' | 'totp' = 'hotp'): Promise<{ token: PoolToken; user: User }> {
  const token = await addPoolToken(t, { kind });
  const user = await newTokenUser(t);
  await adminOf(t).assign(token.serial, user.username);
  return { token, user };
}

const hotpCode = (token: PoolToken, offset: number | bigint) => hotpForCounter(token.secret, token.counter + BigInt(offset));

describe('lifecycle transitions through the CLI', () => {
  type Start = 'unassigned' | 'active' | 'disabled, in the pool' | 'disabled, assigned' | 'pending' | 'unassigned, expired' | 'disabled, assigned, expired';
  interface Ctx {
    serial: string;
    owner: string;
    other: string;
    /** The code the token shows at this HOTP counter (the pending token is an app's, enrolled at counter 0). */
    code: (counter: number) => string;
    /** The end of the validity of an expired token. */
    validTo?: Date;
  }
  interface Row {
    start: Start;
    command: (c: Ctx) => string[];
    /** stdout of an allowed transition, or the refusal line (without "radotp: "). */
    outcome: { said: (c: Ctx) => string; warned?: (c: Ctx) => string } | { refused: (c: Ctx) => string };
    /** The token afterwards; unchanged when refused. */
    after?: { state: string; user: 'owner' | 'other' | null; reason?: string | null };
  }

  const ROWS: Row[] = [
    { start: 'unassigned', command: (c) => ['assign', c.serial, c.other], outcome: { said: (c) => `token ${c.serial} assigned to ${c.other}` }, after: { state: 'active', user: 'other' } },
    { start: 'active', command: (c) => ['assign', c.serial, c.other], outcome: { refused: (c) => `token ${c.serial} is already assigned to ${c.owner}; unassign it first` } },
    { start: 'disabled, in the pool', command: (c) => ['assign', c.serial, c.other], outcome: { refused: (c) => `token ${c.serial} is disabled (lost); enable it first` } },
    { start: 'disabled, assigned', command: (c) => ['assign', c.serial, c.other], outcome: { refused: (c) => `token ${c.serial} is disabled (lost); enable it first` } },
    { start: 'unassigned', command: (c) => ['assign', c.serial, 'nobody-such'], outcome: { refused: () => 'no user named "nobody-such"' } },
    { start: 'unassigned', command: () => ['assign', 'NO-SUCH-SERIAL', 'x'], outcome: { refused: () => 'no token with serial "NO-SUCH-SERIAL"' } },
    { start: 'active', command: (c) => ['unassign', c.serial], outcome: { said: (c) => `token ${c.serial} returned to the pool` }, after: { state: 'unassigned', user: null } },
    { start: 'unassigned', command: (c) => ['unassign', c.serial], outcome: { refused: (c) => `token ${c.serial} is not assigned` } },
    // a lost token leaves its user but stays disabled: it must not come back into circulation unnoticed
    // ... and the admin is told so: "returned to the pool" alone read as ready to hand out again
    {
      start: 'disabled, assigned',
      command: (c) => ['unassign', c.serial],
      outcome: { said: (c) => `token ${c.serial} returned to the pool, still disabled (lost): enable it before handing it out again` },
      after: { state: 'disabled', user: null, reason: 'lost' },
    },
    { start: 'active', command: (c) => ['disable', c.serial, '--reason', 'stolen', '--note', 'train'], outcome: { said: (c) => `token ${c.serial} disabled (stolen)` }, after: { state: 'disabled', user: 'owner', reason: 'stolen' } },
    { start: 'unassigned', command: (c) => ['disable', c.serial, '--reason', 'broken'], outcome: { said: (c) => `token ${c.serial} disabled (broken)` }, after: { state: 'disabled', user: null, reason: 'broken' } },
    // another reason changes it (lost, then known stolen): the way there was `token enable` first, usable meanwhile
    {
      start: 'disabled, assigned',
      command: (c) => ['disable', c.serial, '--reason', 'retired'],
      outcome: { said: (c) => `token ${c.serial} disabled (retired; was lost)` },
      after: { state: 'disabled', user: 'owner', reason: 'retired' },
    },
    { start: 'disabled, assigned', command: (c) => ['disable', c.serial, '--reason', 'lost'], outcome: { refused: (c) => `token ${c.serial} is already disabled (lost)` } },
    { start: 'disabled, assigned', command: (c) => ['enable', c.serial], outcome: { said: (c) => `token ${c.serial} enabled (active)` }, after: { state: 'active', user: 'owner', reason: null } },
    { start: 'disabled, in the pool', command: (c) => ['enable', c.serial], outcome: { said: (c) => `token ${c.serial} enabled (unassigned)` }, after: { state: 'unassigned', user: null, reason: null } },
    { start: 'active', command: (c) => ['enable', c.serial], outcome: { refused: (c) => `token ${c.serial} is not disabled` } },
    { start: 'unassigned', command: (c) => ['enable', c.serial], outcome: { refused: (c) => `token ${c.serial} is not disabled` } },
    { start: 'disabled, assigned', command: (c) => ['resync', c.serial, '123456', '654321'], outcome: { refused: (c) => `token ${c.serial} is disabled` } },
    // Resync moved a pending token's counter past the codes the app shows first, so its activation with the
    // code the user reads off the app failed ("does not match"): a pending token is activated, not resynced.
    {
      start: 'pending',
      command: (c) => ['resync', c.serial, c.code(5), c.code(6)],
      outcome: { refused: (c) => `token ${c.serial} is pending: activate it with a code the app shows now (radotp token activate ${c.serial} CODE); resync is for tokens in use` },
    },
    // An app's token cannot be handed on: "unassign it first" led to `token unassign`, which refuses software tokens.
    {
      start: 'pending',
      command: (c) => ['assign', c.serial, c.other],
      outcome: { refused: (c) => `token ${c.serial} is ${c.owner}'s software token (an authenticator app): it cannot be handed to another user; enroll one for them` },
    },
    { start: 'pending', command: (c) => ['unassign', c.serial], outcome: { refused: (c) => `token ${c.serial} is a software token; delete it instead` } },
    { start: 'pending', command: (c) => ['disable', c.serial, '--reason', 'lost'], outcome: { said: (c) => `token ${c.serial} disabled (lost)` }, after: { state: 'disabled', user: 'owner', reason: 'lost' } },
    { start: 'pending', command: (c) => ['enable', c.serial], outcome: { refused: (c) => `token ${c.serial} is not disabled` } },
    // Handed out, a token past the end of its validity (the PSKC file's ExpiryDate) never logs its user in.
    {
      start: 'unassigned, expired',
      command: (c) => ['assign', c.serial, c.other],
      outcome: { refused: (c) => `token ${c.serial} expired on ${c.validTo!.toISOString()} (the end of its validity): it would never log ${c.other} in` },
    },
    // Enabled again (it was disabled while it could still be used), an expired token stays unused by every login:
    // it used to come back as "enabled (active)" with nothing said, and its user was refused every code.
    {
      start: 'disabled, assigned, expired',
      command: (c) => ['enable', c.serial],
      outcome: {
        said: (c) => `token ${c.serial} enabled (active)`,
        warned: (c) => `token ${c.serial} expired on ${c.validTo!.toISOString()} (the end of its validity): no login uses it; give ${c.owner} another token`,
      },
      after: { state: 'active', user: 'owner', reason: null },
    },
  ];

  async function prepare(start: Start): Promise<Ctx> {
    const [owner, other] = [await newTokenUser(t, 'owner'), await newTokenUser(t, 'other')];
    const admin = adminOf(t);
    if (start === 'pending') {
      const app = await admin.enroll({ username: owner.username, type: 'hotp', algorithm: 'sha1', digits: 6, period: 30, issuer: 'radotp' });
      const seed = base32Decode(app.secretBase32)!;
      return { serial: app.token.serial, owner: owner.username, other: other.username, code: (n) => hotpForCounter(seed, n) };
    }
    if (start === 'unassigned, expired' || start === 'disabled, assigned, expired') {
      const validTo = new Date(Date.now() + (start === 'unassigned, expired' ? -60_000 : 1_500));
      const token = await addPoolToken(t, { kind: 'hotp', validTo });
      if (start === 'disabled, assigned, expired') {
        await admin.assign(token.serial, owner.username);
        await admin.disable(token.serial, 'lost');
        await new Promise((r) => setTimeout(r, validTo.getTime() - Date.now() + 100)); // found again after its end
      }
      return { serial: token.serial, owner: owner.username, other: other.username, code: (n) => hotpForCounter(token.secret, n), validTo };
    }
    const token = await addPoolToken(t, { kind: 'hotp' });
    if (start === 'active' || start === 'disabled, assigned') await admin.assign(token.serial, owner.username);
    if (start.startsWith('disabled')) await admin.disable(token.serial, 'lost');
    return { serial: token.serial, owner: owner.username, other: other.username, code: (n) => hotpForCounter(token.secret, token.counter + BigInt(n)) };
  }

  test.each(ROWS.map((r) => [r.start, r.command({ serial: 'S', owner: 'U', other: 'V', code: () => 'CODE' }).join(' '), r] as const))('%s: token %s', async (_start, _cmd, row) => {
    const c = await prepare(row.start);
    const before = await t.store.tokens.get(c.serial);
    const r = await cli(['token', ...row.command(c)]);
    if ('said' in row.outcome) {
      const warned = row.outcome.warned ? `radotp: warning: ${row.outcome.warned(c)}\n` : '';
      expect({ code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ code: 0, stderr: warned, stdout: `${row.outcome.said(c)}\n` });
    } else {
      expect(refusalLine(r)).toBe(`radotp: ${row.outcome.refused(c)}`);
    }
    const after = await t.store.tokens.get(c.serial);
    if (!row.after) {
      expect(after).toEqual(before);
      return;
    }
    const user = row.after.user === null ? null : c[row.after.user];
    expect({ state: after.state, user: after.username }).toEqual({ state: row.after.state, user });
    if (row.after.reason !== undefined) expect(after.disabledReason).toBe(row.after.reason);
  });

  test('disable needs a known reason', async () => {
    const c = await prepare('active');
    const r = await cli(['token', 'disable', c.serial, '--reason', 'melted']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("argument 'melted' is invalid. Allowed choices are lost, stolen, broken, retired, other.");
    expect((await t.store.tokens.get(c.serial)).state).toBe('active');
  });

  test('token show prints the reason and note; token list filters by pool, state and user', async () => {
    const c = await prepare('active');
    await ok(cli, ['token', 'disable', c.serial, '--reason', 'lost', '--note', 'left on the bus']);
    const shown = await ok(cli, ['token', 'show', c.serial]);
    expect(shown).toMatch(/^disabledReason: +lost$/m);
    expect(shown).toMatch(/^disabledNote: +left on the bus$/m);

    const pooled = await prepare('unassigned');
    const active = await prepare('active');
    const serialsOf = async (args: string[]) => (JSON.parse(await ok(cli, ['token', 'list', '--json', ...args])) as { serial: string }[]).map((x) => x.serial);
    const unassigned = await serialsOf(['--unassigned']);
    expect(unassigned).toContain(pooled.serial);
    expect(unassigned).not.toContain(active.serial);
    const disabled = await serialsOf(['--state', 'disabled']);
    expect(disabled).toContain(c.serial);
    expect(disabled).not.toContain(pooled.serial);
    expect(await serialsOf(['--user', active.owner])).toEqual([active.serial]);
  });
});

// A token handed to a user whose method is password is never asked for: the admin believed the user now had two
// factors, and nothing said otherwise. The assignment stands (a token may be handed out before the switch).
test('token assign to a password-method user warns that no code is asked for until the method is token', async () => {
  const token = await addPoolToken(t, { kind: 'hotp' });
  const username = `pw-user-${process.pid}`;
  const password = 'only a password';
  await t.store.users.add({ username, passwordHash: await hashPassword(password), method: 'password' });
  const r = await cli(['token', 'assign', token.serial, username]);
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
    code: 0,
    stdout: `token ${token.serial} assigned to ${username}\n`,
    stderr: `radotp: warning: ${username} logs in with method password, which asks for no code: run \`radotp user set ${username} --method token\` to require this token\n`,
  });
  expect((await login(radius, username, password, '')).reply).toBe('Access-Accept'); // what the warning says
  await ok(cli, ['user', 'set', username, '--method', 'token']);
  expect((await login(radius, username, password, hotpCode(token, 0))).reply).toBe('Access-Accept');
});

// The same for an app: `token enroll` for a user whose method is password (README's step 4 with its first line
// left out) printed the QR code and nothing else, and the token, once activated, was never asked for either.
test('token enroll for a password-method user warns likewise; its output (and --json) is unchanged', async () => {
  const username = `pw-app-${process.pid}`;
  await t.store.users.add({ username, passwordHash: await hashPassword('only a password'), method: 'password' });
  const warning = `radotp: warning: ${username} logs in with method password, which asks for no code: run \`radotp user set ${username} --method token\` to require this token\n`;
  const shown = await cli(['token', 'enroll', username]);
  expect({ code: shown.code, stderr: shown.stderr }).toEqual({ code: 0, stderr: warning });
  expect(shown.stdout).toMatch(/^otpauth URI: +otpauth:\/\/totp\//m);
  const json = await cli(['token', 'enroll', username, '--json']);
  expect({ code: json.code, stderr: json.stderr }).toEqual({ code: 0, stderr: warning });
  expect(JSON.parse(json.stdout)).toMatchObject({ user: username, state: 'pending' });
  await ok(cli, ['user', 'set', username, '--method', 'token']);
  const quiet = await cli(['token', 'enroll', username]);
  expect({ code: quiet.code, stderr: quiet.stderr }).toEqual({ code: 0, stderr: '' });
});

// README's step 4 begins with `user set alice --method token`: from then until a token is active, every login of
// alice is refused (no_token), and nothing said so. Now a warning does; a user with an active token gets none.
test('user set --method token for a user with no active token warns that their logins are refused until one is', async () => {
  const username = `pw-switch-${process.pid}`;
  await t.store.users.add({ username, passwordHash: await hashPassword('only a password'), method: 'password' });
  const switched = await cli(['user', 'set', username, '--method', 'token']);
  expect({ code: switched.code, stdout: switched.stdout, stderr: switched.stderr }).toEqual({
    code: 0,
    stdout: `user ${username} now uses method token\n`,
    stderr:
      `radotp: warning: ${username} has no active token: their logins are refused (no_token) until one is ` +
      `(\`radotp token enroll ${username}\` then \`token activate\`, or \`radotp token assign SERIAL ${username}\`)\n`,
  });
  expect((await login(radius, username, 'only a password', '')).reply).toBe('Access-Reject'); // what the warning says
  const token = await addPoolToken(t, { kind: 'hotp' });
  await ok(cli, ['token', 'assign', token.serial, username]);
  const again = await cli(['user', 'set', username, '--method', 'token']);
  expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
});

// Filters no token can match at once listed nothing, exit 0: the admin read "no such token" into an empty table.
describe('token list: filters that exclude each other are a usage error', () => {
  const ROWS: [string[], string][] = [
    [['--user', 'alice', '--unassigned'], '--user and --unassigned exclude each other: a token in the pool belongs to no user'],
    [['--user', 'alice', '--state', 'unassigned'], '--user and --state unassigned exclude each other: a token in the pool belongs to no user'],
    [['--unassigned', '--state', 'active'], '--unassigned and --state active exclude each other: an active token belongs to a user'],
    [['--unassigned', '--state', 'pending'], '--unassigned and --state pending exclude each other: a pending token belongs to a user'],
  ];
  test.each(ROWS)('token list %j', async (args, message) => {
    const r = await cli(['token', 'list', ...args]);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 2, stdout: '', stderr: `radotp: ${message}\n` });
  });

  test('filters that fit together still list', async () => {
    const token = await addPoolToken(t, { kind: 'hotp' });
    await adminOf(t).disable(token.serial, 'broken');
    const listed = JSON.parse(await ok(cli, ['token', 'list', '--json', '--unassigned', '--state', 'disabled'])) as { serial: string }[];
    expect(listed.map((x) => x.serial)).toContain(token.serial);
  });
});

describe('what a state means for a login', () => {
  test('unassign keeps the replay state: a code used before is refused after re-assignment', async () => {
    const { token, user } = await assigned('hotp');
    expect((await login(radius, user.username, user.password, hotpCode(token, 0))).reply).toBe('Access-Accept');
    await ok(cli, ['token', 'unassign', token.serial]);
    const next = await newTokenUser(t);
    await ok(cli, ['token', 'assign', token.serial, next.username]);
    expect((await login(radius, next.username, next.password, hotpCode(token, 0))).reply).toBe('Access-Reject');
    expect((await login(radius, next.username, next.password, hotpCode(token, 1))).reply).toBe('Access-Accept');
  });

  test('delete keeps the replay state too: imported again from the vendor file, a code used before is refused', async () => {
    const key = hotpKey({ counter: 0n });
    const file = writePskcFile(t.dir, [key], { kind: 'plain' });
    await ok(cli, ['token', 'import', file]);
    const user = await newTokenUser(t);
    await ok(cli, ['token', 'assign', key.serial, user.username]);
    const code = (offset: number) => hotpForCounter(key.secret, BigInt(offset));
    expect((await login(radius, user.username, user.password, code(0))).reply).toBe('Access-Accept');
    expect((await login(radius, user.username, user.password, code(1))).reply).toBe('Access-Accept');
    await ok(cli, ['token', 'delete', key.serial]);
    await ok(cli, ['token', 'import', file]); // the same file: counter 0 again
    await ok(cli, ['token', 'assign', key.serial, user.username]);
    for (const used of [0, 1]) expect((await login(radius, user.username, user.password, code(used))).reply).toBe('Access-Reject');
    expect((await login(radius, user.username, user.password, code(2))).reply).toBe('Access-Accept');
  });

  test('TOTP too: the step used before unassign stays spent', async () => {
    await awayFromStepBoundary(5);
    const { token, user } = await assigned('totp');
    const code = totpForStep(token.secret, currentStep());
    expect((await login(radius, user.username, user.password, code)).reply).toBe('Access-Accept');
    await ok(cli, ['token', 'unassign', token.serial]);
    const next = await newTokenUser(t);
    await ok(cli, ['token', 'assign', token.serial, next.username]);
    expect((await login(radius, next.username, next.password, code)).reply).toBe('Access-Reject');
  });

  test('a disabled token never authenticates; enabled again, the same (unspent) code works', async () => {
    const { token, user } = await assigned('hotp');
    await ok(cli, ['token', 'disable', token.serial, '--reason', 'lost']);
    for (const offset of [0, 1]) expect((await login(radius, user.username, user.password, hotpCode(token, offset))).reply).toBe('Access-Reject');
    await ok(cli, ['token', 'enable', token.serial]);
    expect((await login(radius, user.username, user.password, hotpCode(token, 0))).reply).toBe('Access-Accept');
  });

  test('a token past its validity end does not authenticate', async () => {
    const { token, user } = await assigned('hotp');
    const setValidTo = (to: string) => sql`UPDATE token SET valid_to = now() + ${to}::interval WHERE serial = ${token.serial}`.execute(t.store.db);
    await setValidTo('-1 second');
    expect((await login(radius, user.username, user.password, hotpCode(token, 0))).reply).toBe('Access-Reject');
    await setValidTo('1 hour');
    expect((await login(radius, user.username, user.password, hotpCode(token, 0))).reply).toBe('Access-Accept');
  });
});

describe('HOTP look-ahead (auth.hotp.lookAhead = 10) and replay', () => {
  test.each([
    [0, 'Access-Accept'],
    [5, 'Access-Accept'],
    [10, 'Access-Accept'],
    [11, 'Access-Reject'],
    [500, 'Access-Reject'],
  ])('a code %i ahead of the next counter: %s', async (offset, expected) => {
    const { token, user } = await assigned('hotp');
    expect((await login(radius, user.username, user.password, hotpCode(token, offset))).reply).toBe(expected);
  });

  test('a used code is refused again, and so are the codes skipped over', async () => {
    const { token, user } = await assigned('hotp');
    const attempts: [number, string][] = [
      [5, 'Access-Accept'],
      [5, 'Access-Reject'], // replay
      [3, 'Access-Reject'], // skipped: the counter moved past it
      [6, 'Access-Accept'],
    ];
    const replies = [];
    for (const [offset] of attempts) replies.push([offset, (await login(radius, user.username, user.password, hotpCode(token, offset))).reply]);
    expect(replies).toEqual(attempts);
    expect((await t.store.tokens.get(token.serial)).nextCounter).toBe(token.counter + 7n);
  });
});

describe('auth.hotp.lookAhead is honoured', () => {
  let narrow: TestServer;
  beforeAll(async () => {
    narrow = await startTestServer({ config: { auth: { hotp: { lookAhead: 3 } } } });
  });
  afterAll(() => narrow?.close());

  test.each([
    [3, 'Access-Accept'],
    [4, 'Access-Reject'],
  ])('with lookAhead 3, a code %i ahead: %s', async (offset, expected) => {
    const token = await addPoolToken(narrow, { kind: 'hotp' });
    const user = await newTokenUser(narrow);
    await adminOf(narrow).assign(token.serial, user.username);
    expect((await login(udpDriver(narrow.port), user.username, user.password, hotpCode(token, offset))).reply).toBe(expected);
  });
});

describe('resync', () => {
  test('HOTP: a device 500 events ahead is rejected, resynced with two codes, then accepted; never backwards', async () => {
    const { token, user } = await assigned('hotp');
    expect((await login(radius, user.username, user.password, hotpCode(token, 500))).reply).toBe('Access-Reject');
    expect(await ok(cli, ['token', 'resync', token.serial, hotpCode(token, 500), hotpCode(token, 501)])).toBe(
      `token ${token.serial} resynchronised (counter ${token.counter + 502n})\n`,
    );
    expect((await login(radius, user.username, user.password, hotpCode(token, 502))).reply).toBe('Access-Accept');

    // Last accepted: +502. Pairs touching it or earlier must not move the counter back (CVE-2019-12887).
    const refusedPairs: [string, number, number][] = [
      ['both spent', 500, 501],
      ['ending on the last accepted', 501, 502],
      ['starting on the last accepted', 502, 503],
      ['not consecutive', 504, 506],
      ['beyond the 1000-event window', 1504, 1505],
    ];
    for (const [why, a, b] of refusedPairs) {
      const r = await cli(['token', 'resync', token.serial, hotpCode(token, a), hotpCode(token, b)]);
      expect([why, refusalLine(r)]).toEqual([why, `radotp: codes are not two consecutive codes of token ${token.serial} within the resync window (or were already used)`]);
    }
    expect((await t.store.tokens.get(token.serial)).nextCounter).toBe(token.counter + 503n);
    // the one resync that moved the counter is in the audit trail; the refused pairs changed nothing
    const resyncs = (await t.store.audit.recent({ username: user.username, limit: 100 })).filter((r) => r.method === 'token resync');
    expect(resyncs.map((r) => [r.result, r.reason, r.tokenSerial])).toEqual([['admin', 'resynced', token.serial]]);
    // where it moved the counter, from where: what a reviewer of the trail needs to tell a fix from a rewind
    expect(resyncs[0]!.detail).toEqual({ admin: expect.any(String), nextCounterBefore: String(token.counter), nextCounter: String(token.counter + 502n) });
  });

  test('TOTP: a clock 10 minutes fast is rejected, resynced, accepted, and token show --json reports the drift', async () => {
    // 60 s steps and a fresh step: the whole exchange happens within one step of the server's clock
    await awayFromStepBoundary(35, 60);
    const token = await addPoolToken(t, { kind: 'totp', period: 60 });
    const user = await newTokenUser(t);
    await adminOf(t).assign(token.serial, user.username);
    const now = currentStep(60);
    const deviceCode = (offsetSteps: number) => totpForStep(token.secret, now + offsetSteps, { algorithm: 'sha1', digits: 6, period: 60 });
    // The device shows step now+10 (600 s fast); it showed now+9 one step ago.
    expect((await login(radius, user.username, user.password, deviceCode(10))).reply).toBe('Access-Reject');
    expect(await ok(cli, ['token', 'resync', token.serial, deviceCode(9), deviceCode(10)])).toBe(`token ${token.serial} resynchronised (drift 600 s)\n`);
    const shown = JSON.parse(await ok(cli, ['token', 'show', token.serial, '--json']));
    expect({ driftSteps: shown.driftSteps, driftSeconds: shown.driftSeconds }).toEqual({ driftSteps: 10, driftSeconds: 600 });
    // the code it shows next is accepted; the resync codes themselves are spent
    expect((await login(radius, user.username, user.password, deviceCode(10))).reply).toBe('Access-Reject');
    expect((await login(radius, user.username, user.password, deviceCode(11))).reply).toBe('Access-Accept');

    const refusedPairs: [string, number, number][] = [
      ['ending on the last accepted step', 10, 11],
      ['starting on the last accepted step', 11, 12],
    ];
    for (const [why, a, b] of refusedPairs) {
      const r = await cli(['token', 'resync', token.serial, deviceCode(a), deviceCode(b)]);
      expect([why, r.code === 0 ? r.stdout : refusalLine(r)]).toEqual([why, expect.stringContaining('within the resync window (or were already used)')]);
    }
    expect((await t.store.tokens.get(token.serial)).lastStep).toBe(BigInt(now + 11));
    const resynced = (await t.store.audit.recent({ username: user.username, limit: 100 })).filter((r) => r.method === 'token resync');
    expect(resynced.map((r) => r.detail)).toEqual([{ admin: expect.any(String), driftSecondsBefore: 0, driftSeconds: 600 }]);
    // the device's clock is set right again: its codes are before the last accepted step, and the refusal says
    // until when codes count as used, and the two ways out
    const corrected = await cli(['token', 'resync', token.serial, deviceCode(0), deviceCode(1)]);
    expect(refusalLine(corrected)).toMatch(
      new RegExp(
        `\\(or were already used\\); its codes up to ${new Date((now + 12) * 60_000).toISOString().replace(/\./g, '\\.')} \\(\\d+ s ahead of this server's clock\\) count as used, ` +
          'after a login or resync with a clock set ahead: wait until then, or delete the token and enroll a new one$',
      ),
    );
  });
});
