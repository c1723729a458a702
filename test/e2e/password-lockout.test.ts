import { Code } from '../../src/radius/types';
import { auditRowsOnceWritten } from '../support/audit-rows';
import { cliFor, ok, refusalLine } from '../support/pool-cli';
import { radclient } from '../support/radclient';
import { accessRequest, authenticate, sendRaw } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText } from '../support/metrics';

/*
 * Wrong passwords lock a user, as wrong codes lock a token (auth.lockout), counted across the nodes of a
 * cluster: two servers share one database here, and the guesses sent to each add up. A locked user's
 * right password is rejected too; for a token user in the challenge style that closes the oracle (an
 * Access-Challenge would say the password was right). `user unlock` is the way out before the lock ends.
 */
const MAX_FAILURES = 3;

let a: TestServer;
let b: TestServer;
let radotp: ReturnType<typeof cliFor>;

const login = (node: TestServer, username: string, password: string) => authenticate(node.port, { username, password, secret: TEST_SECRET });

/** The user's last `n` login decisions' reasons, oldest first. */
async function reasons(username: string, n: number): Promise<string[]> {
  const rows = await auditRowsOnceWritten(a.store, username, n, { decisionsOnly: true });
  return rows.slice(0, n).reverse().map((r) => r.reason);
}

beforeAll(async () => {
  const config = { auth: { lockout: { maxFailures: MAX_FAILURES, duration: '10m' }, allowUsersWithoutToken: false } };
  const clients = [
    { name: 'vpn', address: '127.0.0.1', loginStyle: 'challenge' as const },
    { name: 'legacy', address: '::1', loginStyle: 'challenge' as const, requireMessageAuthenticator: false },
  ];
  a = await startTestServer({
    clients,
    config,
    users: [
      { username: 'pia', password: 'pia-password' },
      { username: 'pim', password: 'pim-password' },
      { username: 'tom', password: 'tom-password', method: 'token' },
      { username: 'pam', password: 'pam-password' },
    ],
  });
  b = await startTestServer({ clients, config, database: { url: a.cfg.database.url! }, dir: a.dir });
  radotp = cliFor(a);
  const tom = await a.store.users.get('tom');
  await a.store.tokens.create({ serial: 'TOTP-TOM', userId: tom.id, origin: 'software', kind: 'totp', state: 'active', algorithm: 'sha1', digits: 6, seed: Buffer.alloc(20, 7) });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

test('guesses on two nodes add up to a lock; the right password is then rejected too, until `user unlock`', async () => {
  expect((await login(a, 'pia', 'guess-1'))?.code).toBe(Code.AccessReject);
  expect((await login(b, 'pia', 'guess-2'))?.code).toBe(Code.AccessReject);
  expect((await login(a, 'pia', 'guess-3'))?.code).toBe(Code.AccessReject);
  expect((await login(b, 'pia', 'pia-password'))?.code).toBe(Code.AccessReject);
  expect(await reasons('pia', 4)).toEqual(['bad_password', 'bad_password', 'bad_password', 'password_locked']);

  const locked = JSON.parse(await ok(radotp, ['user', 'list', '--locked', '--json'])) as { username: string; lockedUntil: string }[];
  expect(locked.map((u) => u.username)).toEqual(['pia']);
  expect(Date.parse(locked[0]!.lockedUntil) - Date.now()).toBeGreaterThan(9 * 60_000);
  expect(await ok(radotp, ['user', 'show', 'pia'])).toMatch(/^wrong passwords: 3$/m);

  expect(await ok(radotp, ['user', 'unlock', 'pia'])).toBe('user pia unlocked\n');
  // FreeRADIUS's own client, the interop oracle, is let in again
  const r = await radclient({ port: a.port, secret: TEST_SECRET, pairs: 'User-Name=pia,User-Password=pia-password,Message-Authenticator=0x00' });
  expect(r.reply).toBe('Access-Accept');
  expect(await ok(radotp, ['user', 'show', 'pia'])).toMatch(/^wrong passwords: 0\nlocked until: +not locked$/m);
  const audit = await a.store.audit.recent({ username: 'pia', limit: 10 });
  expect(audit.map((e) => e.method)).toContain('user unlock');
});

test('a legacy NAS (no Message-Authenticator) set up with a mistyped secret locks nobody out: its requests are dropped', async () => {
  // RFC 2865 §5.2 with another secret reveals random octets: they were answered as wrong passwords, and counted
  const mistyped = (node: TestServer) => {
    const { datagram } = accessRequest({ username: 'pam', password: 'pam-password', secret: 'mistyped-secret-0123', messageAuthenticator: false });
    return sendRaw(datagram, { port: node.port6!, host: '::1', timeoutMs: 300 });
  };
  for (let i = 0; i <= MAX_FAILURES; i++) expect(await mistyped(i % 2 ? a : b)).toBeNull();
  const fixed = await authenticate(a.port6!, { host: '::1', username: 'pam', password: 'pam-password', secret: TEST_SECRET, messageAuthenticator: false });
  expect(fixed?.code).toBe(Code.AccessAccept);
  expect(await reasons('pam', 1)).toEqual(['password_ok']);
  const metrics = await metricsText(a);
  expect(metrics).toMatch(/^radotp_dropped_total\{reason="password_not_text"\} [1-9]/m);
});

test('a right password before the limit clears the count', async () => {
  for (let i = 0; i < MAX_FAILURES - 1; i++) expect((await login(a, 'pim', `guess-${i}`))?.code).toBe(Code.AccessReject);
  expect((await login(b, 'pim', 'pim-password'))?.code).toBe(Code.AccessAccept);
  for (let i = 0; i < MAX_FAILURES - 1; i++) expect((await login(a, 'pim', `guess-${i}`))?.code).toBe(Code.AccessReject);
  expect((await login(a, 'pim', 'pim-password'))?.code).toBe(Code.AccessAccept);
  expect(JSON.parse(await ok(radotp, ['user', 'list', '--locked', '--json']))).toEqual([]);
});

test('challenge style: a locked token user gets no Access-Challenge for the right password', async () => {
  expect((await login(a, 'tom', 'tom-password'))?.code).toBe(Code.AccessChallenge);
  for (let i = 0; i < MAX_FAILURES; i++) expect((await login(i % 2 ? a : b, 'tom', `guess-${i}`))?.code).toBe(Code.AccessReject);
  expect((await login(a, 'tom', 'tom-password'))?.code).toBe(Code.AccessReject);
  expect(await reasons('tom', 5)).toEqual(['password_ok', 'bad_password', 'bad_password', 'bad_password', 'password_locked']);
  await ok(radotp, ['user', 'unlock', 'tom']);
  expect((await login(b, 'tom', 'tom-password'))?.code).toBe(Code.AccessChallenge);
});

test('user unlock: nothing to unlock is said so; a name nobody has is an error', async () => {
  expect(await ok(radotp, ['user', 'unlock', 'pim'])).toBe('user pim had no wrong passwords counted: nothing to unlock\n');
  expect(refusalLine(await radotp(['user', 'unlock', 'nobody']))).toBe('radotp: no user named "nobody"');
});
