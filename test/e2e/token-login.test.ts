import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { base32Encode } from '../../src/otp';
import { runCli, type CliResult } from '../support/cli';
import { AppFromUri, awayFromStepBoundary, hotpCodesBetween, totpCodesAround, wrongCode } from '../support/otp-codes';
import { radclient, type RadclientResult } from '../support/radclient';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';

/*
 * The `token` method as an admin and a user meet it: enrollment and activation through the real CLI, the
 * code computed from the otpauth:// URI the CLI printed (as an authenticator app would), and logins sent by
 * FreeRADIUS's radclient in each login style. The tests run in order and build on each other: the RADIUS
 * client's login style is switched with `radotp client set` between them.
 */

const MA = ',Message-Authenticator=0x00';
const users = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay'] as const;
const passwordOf = (u: string) => `${u}-password`;

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    clients: [{ name: 'nas', address: '127.0.0.1' }],
    users: users.map((username) => ({ username, password: passwordOf(username), method: 'token' })),
  });
});
afterAll(() => t?.close());

function radotp(args: string[]): Promise<CliResult> {
  return runCli(args, { env: { RADOTP_CONFIG: t.configFile } });
}

async function radotpOk(args: string[]): Promise<string> {
  const r = await radotp(args);
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
  return r.stdout;
}

/** radclient's pair list needs quoting for values with anything but word characters. */
function login(pairs: Record<string, string>): Promise<RadclientResult> {
  const list = Object.entries(pairs)
    .map(([k, v]) => (k === 'State' ? `${k}=${v}` : `${k}="${v}"`))
    .join(',');
  return radclient({ port: t.port, secret: TEST_SECRET, pairs: list + MA });
}

/** The State radclient printed for an Access-Challenge, as radclient's own 0x… input syntax. */
function stateOf(r: RadclientResult): string {
  const m = /State = (0x[0-9a-f]+)/.exec(r.output);
  if (!m) throw new Error(`no State in radclient output:\n${r.output}`);
  return m[1];
}

/**
 * The logins in the audit trail of one user, oldest first (admin actions, such as `token activate` and `token verify`,
 * are left out); waits for the batch writer (every 50 ms) to catch up.
 */
async function auditReasons(username: string, expectedCount: number): Promise<string[]> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const rows = (await t.store.audit.recent({ username, limit: 100 })).filter((r) => r.detail?.admin === undefined); // admin actions name the admin
    if (rows.length >= expectedCount || Date.now() > deadline) return rows.reverse().map((r) => r.reason);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setLoginStyle(style: 'challenge' | 'append' | 'otp-only'): Promise<void> {
  await radotpOk(['client', 'set', 'nas', '--login', style]);
  // servers reload the client table every radius.clientRefresh (0.2 s in tests)
  await new Promise((r) => setTimeout(r, 700));
}

interface Enrolled {
  serial: string;
  app: AppFromUri;
}

async function enroll(username: string, extra: string[] = []): Promise<Enrolled & { json: Record<string, unknown> }> {
  const json = JSON.parse(await radotpOk(['token', 'enroll', username, '--json', ...extra])) as Record<string, unknown>;
  return { serial: String(json.serial), app: new AppFromUri(String(json.otpauth_uri)), json };
}

/**
 * The CLI checks an activation code a second or more after the test computed it. Should a step boundary
 * fall in between, the token learns a drift of -1 (RFC 6238 §6) and later windows centre one step in the
 * past, where the "phone one step ahead" code, totp(1), that the login tests send is out of reach.
 */
const ACTIVATION_MARGIN_SECONDS = 10;

async function enrollAndActivate(username: string, extra: string[] = []): Promise<Enrolled> {
  const e = await enroll(username, extra);
  if (e.app.key.type === 'totp') await awayFromStepBoundary(ACTIVATION_MARGIN_SECONDS, e.app.key.period);
  const code = e.app.key.type === 'hotp' ? e.app.hotp(0) : e.app.totp(0);
  expect(await radotpOk(['token', 'activate', e.serial, code])).toMatch(/is active/);
  return e;
}

async function tokenState(serial: string): Promise<string> {
  return (await t.store.tokens.get(serial)).state;
}

describe('enrollment and activation through the CLI', () => {
  let ann: Enrolled;
  let dan: Enrolled;

  test('enroll --json creates a pending token and prints an otpauth URI an app can load', async () => {
    const e = await enroll('ann', ['--issuer', 'ACME', '--description', 'phone']);
    ann = e;
    expect(e.json).toMatchObject({ state: 'pending', user: 'ann', type: 'totp', digits: 6, period: 30, algorithm: 'sha1' });
    expect(e.serial).toMatch(/^TOTP-[A-Z2-7]{10}$/);
    expect(e.app.key).toMatchObject({ type: 'totp', issuer: 'ACME', account: 'ann', digits: 6, period: 30 });
    expect(e.app.key.secret).toHaveLength(20); // RFC 4226 R6: 160 bits for SHA-1
    const stored = await t.store.tokens.getWithSeed(e.serial);
    expect(stored.seed).toEqual(e.app.key.secret);
    expect(stored).toMatchObject({ state: 'pending', description: 'phone', issuer: 'ACME' });
  });

  test('token show never prints the seed again', async () => {
    const shown = await radotpOk(['token', 'show', ann.serial, '--json']);
    expect(JSON.parse(shown)).toMatchObject({ serial: ann.serial, state: 'pending', user: 'ann' });
    const secret = ann.app.key.secret;
    for (const form of [secret.toString('hex'), secret.toString('base64'), base32Encode(secret)]) expect(shown).not.toContain(form);
  });

  test('a pending token never authenticates', async () => {
    // challenge style (the default): the right password, but no active token, so no challenge either
    const r = await login({ 'User-Name': 'ann', 'User-Password': passwordOf('ann') });
    expect(r.reply).toBe('Access-Reject');
    expect(await auditReasons('ann', 1)).toEqual(['no_token']);
  });

  test('activation with a wrong code fails and the token stays pending', async () => {
    const r = await radotp(['token', 'activate', ann.serial, wrongCode(totpCodesAround(ann.app.key.secret, 3))]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/stays pending/);
    expect(await tokenState(ann.serial)).toBe('pending');
  });

  test('activation with the code the app shows now makes the token active', async () => {
    await awayFromStepBoundary(ACTIVATION_MARGIN_SECONDS, ann.app.key.period);
    expect(await radotpOk(['token', 'activate', ann.serial, ann.app.totp(0)])).toBe(`token ${ann.serial} is active\n`);
    expect(await tokenState(ann.serial)).toBe('active');
    // the activation code is spent: activating again is refused (the token is no longer pending)
    const again = await radotp(['token', 'activate', ann.serial, ann.app.totp(0)]);
    expect(again.code).not.toBe(0);
  });

  test('the enrollment and both activation attempts, the wrong code and the right one, are in the audit trail', async () => {
    const rows = (await t.store.audit.recent({ username: 'ann', limit: 100 })).filter((r) => r.method === 'token enroll' || r.method === 'token activate').reverse();
    expect(rows.map((r) => ({ method: r.method, result: r.result, reason: r.reason, token: r.tokenSerial }))).toEqual([
      { method: 'token enroll', result: 'admin', reason: 'enrolled', token: ann.serial },
      { method: 'token activate', result: 'reject', reason: 'bad_code', token: ann.serial },
      { method: 'token activate', result: 'accept', reason: 'code_ok', token: ann.serial },
    ]);
  });

  test('challenge style: password, Access-Challenge with State, then the code with that State', async () => {
    const first = await login({ 'User-Name': 'ann', 'User-Password': passwordOf('ann') });
    expect(first.reply).toBe('Access-Challenge');
    expect(first.output).toMatch(/Reply-Message = "Enter the code from your authenticator"/);
    const second = await login({ 'User-Name': 'ann', 'User-Password': ann.app.totp(1), State: stateOf(first) });
    expect(second.reply).toBe('Access-Accept');
    expect(await auditReasons('ann', 3)).toEqual(['no_token', 'password_ok', 'code_ok']);
  });

  test('challenge style: a wrong password gets no challenge', async () => {
    const r = await login({ 'User-Name': 'ann', 'User-Password': 'not-her-password' });
    expect(r.reply).toBe('Access-Reject');
    expect(r.output).not.toMatch(/State = /);
    expect((await auditReasons('ann', 4)).at(-1)).toBe('bad_password');
  });

  test('challenge style: a wrong code after the challenge is rejected', async () => {
    const first = await login({ 'User-Name': 'ann', 'User-Password': passwordOf('ann') });
    const code = wrongCode(totpCodesAround(ann.app.key.secret, 3));
    const second = await login({ 'User-Name': 'ann', 'User-Password': code, State: stateOf(first) });
    expect(second.reply).toBe('Access-Reject');
    expect((await auditReasons('ann', 6)).slice(-2)).toEqual(['password_ok', 'bad_code']);
  });

  test('append style: the password immediately followed by the code', async () => {
    await setLoginStyle('append');
    const ben = await enrollAndActivate('ben');
    const wrong = wrongCode(totpCodesAround(ben.app.key.secret, 3));
    expect((await login({ 'User-Name': 'ben', 'User-Password': passwordOf('ben') + wrong })).reply).toBe('Access-Reject');
    expect((await login({ 'User-Name': 'ben', 'User-Password': 'guess' + ben.app.totp(1) })).reply).toBe('Access-Reject');
    expect((await login({ 'User-Name': 'ben', 'User-Password': passwordOf('ben') + ben.app.totp(1) })).reply).toBe('Access-Accept');
    expect(await auditReasons('ben', 3)).toEqual(['bad_code', 'bad_password', 'code_ok']);
  });

  test('otp-only style: the code alone', async () => {
    await setLoginStyle('otp-only');
    const cat = await enrollAndActivate('cat');
    expect((await login({ 'User-Name': 'cat', 'User-Password': cat.app.totp(1) })).reply).toBe('Access-Accept');
    expect(await auditReasons('cat', 1)).toEqual(['code_ok']);
    // the password is not a code: otp-only never falls back to it
    expect((await login({ 'User-Name': 'cat', 'User-Password': passwordOf('cat') })).reply).toBe('Access-Reject');
  });

  test('replay: the same code sent twice is accepted once, the second time rejected with reason replay', async () => {
    const eve = await enrollAndActivate('eve');
    const code = eve.app.totp(1);
    expect((await login({ 'User-Name': 'eve', 'User-Password': code })).reply).toBe('Access-Accept');
    expect((await login({ 'User-Name': 'eve', 'User-Password': code })).reply).toBe('Access-Reject');
    // an older step than the last accepted one is a replay too (RFC 6238 §5.2), even inside the window
    expect((await login({ 'User-Name': 'eve', 'User-Password': eve.app.totp(0) })).reply).toBe('Access-Reject');
    expect(await auditReasons('eve', 3)).toEqual(['code_ok', 'replay', 'replay']);
    const rows = await t.store.audit.recent({ username: 'eve', limit: 2 });
    expect(rows.map((r) => r.tokenSerial)).toEqual([eve.serial, eve.serial]);
  });

  test('HOTP, 8 digits, SHA-256, enrolled through the CLI, logs in by append; spent counters are replays', async () => {
    await setLoginStyle('append');
    dan = await enrollAndActivate('dan', ['--type', 'hotp', '--digits', '8', '--algorithm', 'sha256']);
    expect(dan.app.key).toMatchObject({ type: 'hotp', digits: 8, algorithm: 'sha256', counter: 0n });
    expect(dan.serial).toMatch(/^HOTP-/);
    const wrong = wrongCode(hotpCodesBetween(dan.app.key.secret, 0, 30, dan.app.params), 8);
    const send = (code: string) => login({ 'User-Name': 'dan', 'User-Password': passwordOf('dan') + code });
    expect((await send(wrong)).reply).toBe('Access-Reject');
    // counter 0 went into activation; 3 is within the look-ahead of 10, so 1 and 2 are skipped and spent
    expect((await send(dan.app.hotp(3))).reply).toBe('Access-Accept');
    expect((await send(dan.app.hotp(3))).reply).toBe('Access-Reject');
    expect((await send(dan.app.hotp(1))).reply).toBe('Access-Reject');
    expect((await send(dan.app.hotp(0))).reply).toBe('Access-Reject');
    expect((await send(dan.app.hotp(4))).reply).toBe('Access-Accept');
    expect(await auditReasons('dan', 6)).toEqual(['bad_code', 'code_ok', 'replay', 'replay', 'replay', 'code_ok']);
  });

  test('a second client added for the same address does not freeze the login style of the first', async () => {
    // Refusing the duplicate, or tolerating it when the table is reloaded, would both do; what must not
    // happen is that every node stops picking up client changes (or refuses to start).
    await radotp(['client', 'add', 'nas-again', '--address', '127.0.0.1/32', '--secret', TEST_SECRET, '--login', 'append']);
    try {
      await setLoginStyle('otp-only');
      expect((await login({ 'User-Name': 'dan', 'User-Password': dan.app.hotp(5) })).reply).toBe('Access-Accept');
    } finally {
      await radotp(['client', 'remove', 'nas-again']);
    }
  });
});

describe('enroll --qr-png: the QR code as a file, which holds the seed', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-qr-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const fayTokens = async () => (await t.store.tokens.list({ username: 'fay' })).length;

  test('is a new file readable by its owner only, and decodes to the otpauth URI printed', async () => {
    const file = path.join(dir, 'fay.png');
    const e = await enroll('fay', ['--qr-png', file]);
    expect(e.json.qr_png).toBe(file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // zbarimg (zbar-tools) reads it as a phone camera would
    const { stdout } = await promisify(execFile)('zbarimg', ['--quiet', '--raw', file]);
    expect(stdout.trim()).toBe(e.json.otpauth_uri);
  });

  // [case, where the PNG should go, why it is refused]; none of them may leave a token behind
  const refusals: [string, (dir: string) => string, RegExp][] = [
    ['an existing file is not overwritten', (d) => path.join(d, 'fay.png'), /already exists; not overwriting it/],
    ['a folder that does not exist', (d) => path.join(d, 'missing', 'fay.png'), /cannot create .* \(ENOENT\)/],
  ];
  test.each(refusals)('%s: refused before any token is stored', async (_case, where, message) => {
    const file = where(dir);
    const before = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
    const tokens = await fayTokens();
    const r = await radotp(['token', 'enroll', 'fay', '--qr-png', file]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(message);
    expect(await fayTokens()).toBe(tokens);
    expect(fs.existsSync(file) ? fs.readFileSync(file) : undefined).toEqual(before);
  });

  test('an issuer the key URI cannot carry is refused before any token or file exists', async () => {
    const file = path.join(dir, 'colon.png');
    const tokens = await fayTokens();
    const r = await radotp(['token', 'enroll', 'fay', '--issuer', 'ACME:VPN', '--qr-png', file]);
    expect(r.code).toBe(2); // a usage error, found by the option's parser
    expect(r.stderr).toMatch(/must not contain ":"/);
    expect(await fayTokens()).toBe(tokens);
    expect(fs.existsSync(file)).toBe(false);
  });

  test('an issuer longer than auth.issuer allows (64) is a usage error, before any token or file exists', async () => {
    const file = path.join(dir, 'long.png');
    const tokens = await fayTokens();
    const r = await radotp(['token', 'enroll', 'fay', '--issuer', 'x'.repeat(65), '--qr-png', file]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/option '--issuer <name>' argument 'x{65}' is invalid\. It must be 1 to 64 characters\./);
    expect(await fayTokens()).toBe(tokens);
    expect(fs.existsSync(file)).toBe(false);
  });
});
