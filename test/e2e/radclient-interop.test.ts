import { radclient } from '../support/radclient';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';

/** Issue 2: FreeRADIUS's radclient against a real radotp server on a real PostgreSQL. */
describe('radclient interop (PAP, local passwords)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      clients: [
        { name: 'strict', address: '127.0.0.1' },
        { name: 'six', address: '::1/128' },
      ],
      users: [
        { username: 'alice', password: 'correct horse' },
        { username: 'nopass' },
      ],
    });
  });
  afterAll(() => t?.close());

  const MA = ',Message-Authenticator=0x00';
  const cases: [string, { pairs: string; host?: string; secret?: string; command?: 'auth' | 'status' }, string | null][] = [
    ['right password is accepted', { pairs: 'User-Name=alice,User-Password="correct horse"' + MA }, 'Access-Accept'],
    ['wrong password is rejected', { pairs: 'User-Name=alice,User-Password=wrong' + MA }, 'Access-Reject'],
    ['unknown user is rejected', { pairs: 'User-Name=mallory,User-Password=x' + MA }, 'Access-Reject'],
    ['user without a local password is rejected', { pairs: 'User-Name=nopass,User-Password=x' + MA }, 'Access-Reject'],
    ['wrong shared secret is dropped silently', { pairs: 'User-Name=alice,User-Password="correct horse"' + MA, secret: 'not-the-secret' }, null],
    ['missing Message-Authenticator is dropped when required', { pairs: 'User-Name=alice,User-Password="correct horse"' }, null],
    ['IPv6 client is matched by CIDR', { pairs: 'User-Name=alice,User-Password="correct horse"' + MA, host: '::1' }, 'Access-Accept'],
    ['Status-Server is answered with Access-Accept', { pairs: 'Message-Authenticator=0x00', command: 'status' }, 'Access-Accept'],
  ];

  test.each(cases)('%s', async (_name, c, expected) => {
    const port = c.host === '::1' ? t.port6! : t.port;
    const r = await radclient({ port, secret: c.secret ?? TEST_SECRET, pairs: c.pairs, host: c.host, command: c.command });
    expect(r.reply).toBe(expected);
    if (expected && expected !== 'Access-Accept') expect(r.output).toMatch(/Reply-Message = "Authentication failed"/);
    // radclient verified the Response Authenticator and Message-Authenticator, or it would not print "Received"
    if (expected) expect(r.output).toMatch(/Message-Authenticator = 0x[0-9a-f]{32}/);
  });
});

describe('radclient interop: a legacy NAS allowed to omit Message-Authenticator', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      clients: [{ name: 'legacy', address: '127.0.0.0/8', requireMessageAuthenticator: false }],
      users: [{ username: 'alice', password: 'correct horse' }],
    });
  });
  afterAll(() => t?.close());

  test('a request without Message-Authenticator is answered, and the answer still carries one', async () => {
    const r = await radclient({ port: t.port, secret: TEST_SECRET, pairs: 'User-Name=alice,User-Password="correct horse"' });
    expect(r.reply).toBe('Access-Accept');
    expect(r.output).toMatch(/Message-Authenticator = 0x[0-9a-f]{32}/);
  });

  test('a present but wrong Message-Authenticator is still dropped', async () => {
    const r = await radclient({ port: t.port, secret: TEST_SECRET, pairs: 'User-Name=alice,User-Password="correct horse",Message-Authenticator=0x00' });
    expect(r.reply).toBe('Access-Accept'); // radclient computes MA itself from 0x00 placeholder: a correct one
    const bad = await radclient({ port: t.port, secret: 'wrong-secret-wrong', pairs: 'User-Name=alice,User-Password="correct horse",Message-Authenticator=0x00' });
    expect(bad.reply).toBeNull();
  });

  test('set to if-requested (a NAS that drops replies holding one), replies carry it only when the request did', async () => {
    await t.store.clients.update('legacy', { replyMessageAuthenticator: 'if-requested' });
    const plain = 'User-Name=alice,User-Password="correct horse"';
    const deadline = Date.now() + 5000;
    let r = await radclient({ port: t.port, secret: TEST_SECRET, pairs: plain });
    while (/Message-Authenticator/.test(r.output) && Date.now() < deadline) r = await radclient({ port: t.port, secret: TEST_SECRET, pairs: plain }); // the client table reloads
    expect(r.reply).toBe('Access-Accept');
    expect(r.output).not.toMatch(/Message-Authenticator/);
    const asked = await radclient({ port: t.port, secret: TEST_SECRET, pairs: `${plain},Message-Authenticator=0x00` });
    expect(asked.reply).toBe('Access-Accept');
    expect(asked.output).toMatch(/Received Access-Accept[\s\S]*Message-Authenticator = 0x[0-9a-f]{32}/);
    // Blast-RADIUS: a Proxy-State echoed in a reply without Message-Authenticator is where the forgery hides, so a
    // request that carries one without Message-Authenticator is dropped (as FreeRADIUS's limit_proxy_state does)
    const proxied = await radclient({ port: t.port, secret: TEST_SECRET, pairs: `${plain},Proxy-State=0x6d616c6c6f7279` });
    expect(proxied.reply).toBeNull();
    const signed = await radclient({ port: t.port, secret: TEST_SECRET, pairs: `${plain},Proxy-State=0x70726f7879,Message-Authenticator=0x00` });
    expect(signed.output).toMatch(/Received Access-Accept[\s\S]*Message-Authenticator = 0x[0-9a-f]{32}[\s\S]*Proxy-State = 0x70726f7879/);
  });
});
