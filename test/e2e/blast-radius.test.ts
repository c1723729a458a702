import { createHash, createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { encodeRequest } from '../../src/radius/codec';
import { Attr, Code, type RawAttribute } from '../../src/radius/types';
import { randomSeed } from '../support/otp-codes';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricOf } from '../support/metrics';

/*
 * Blast-RADIUS (CVE-2024-3596) against a real `radotp serve` on a real PostgreSQL, as a NAS and as an attacker on
 * the path see it. The attack hides MD5 collision blocks in a Proxy-State, which the reply must echo (RFC 2865 §5.33),
 * and swaps a Reject for an Accept with the same Response Authenticator. What stops it, as FreeRADIUS 3.2.5 does:
 * a Message-Authenticator FIRST in every reply (the collision needs the reply's prefix before the Proxy-State to be
 * known; an HMAC over the whole reply sitting in that prefix is not), and requests without one dropped where the
 * client is required to send it. Each NAS here sends from its own loopback address, so each is its own client.
 */
const SECRET = Buffer.from(TEST_SECRET);
const WRONG_SECRET = Buffer.from('not-the-shared-secret');
const seed = randomSeed();
const PASSWORD = 'tom-password';

const NAS = {
  strict: '127.0.0.1', // Message-Authenticator required (the default)
  legacy: '127.0.0.2', // --require-message-authenticator no
  checkpoint: '127.0.0.3', // no, and --reply-message-authenticator if-requested
  auto: '127.0.0.4', // --require-message-authenticator auto
} as const;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    clients: [
      { name: 'strict', address: NAS.strict },
      { name: 'legacy', address: NAS.legacy, requireMessageAuthenticator: false },
      { name: 'checkpoint', address: NAS.checkpoint, requireMessageAuthenticator: false },
      { name: 'auto', address: NAS.auto, requireMessageAuthenticator: false },
    ],
    users: [
      { username: 'alice', password: 'correct horse' },
      { username: 'tom', password: PASSWORD, method: 'token' },
    ],
  });
  await t.store.clients.update('checkpoint', { replyMessageAuthenticator: 'if-requested' });
  await t.store.clients.update('auto', { requireMessageAuthenticator: false, learnMessageAuthenticator: true });
  const tom = (await t.store.users.get('tom')).id;
  await t.store.tokens.create({ serial: 'H-TOM', userId: tom, origin: 'software', state: 'active', algorithm: 'sha1', digits: 6, kind: 'hotp', seed });
  await new Promise((r) => setTimeout(r, 700)); // radius.clientRefresh is 0.2 s in tests
});
afterAll(() => t?.close());

let nextId = 0;
function request(attributes: readonly RawAttribute[], opts: { ma: boolean; secret?: Buffer; code?: number }): Buffer {
  return encodeRequest({
    code: opts.code ?? Code.AccessRequest,
    identifier: nextId++ & 0xff,
    secret: opts.secret ?? SECRET,
    attributes,
    messageAuthenticator: opts.ma,
  });
}

/** Sends from `from` (a loopback address, i.e. a client); the reply, or null after `timeoutMs`. */
async function exchange(from: string, datagram: Buffer, timeoutMs = 10_000): Promise<Buffer | null> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, from, resolve));
  try {
    return await new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      socket.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(datagram, t.port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** Attributes of a reply, parsed here rather than by the codec under test. */
function attributesOf(datagram: Buffer): RawAttribute[] {
  const out: RawAttribute[] = [];
  for (let offset = 20; offset + 2 <= datagram.readUInt16BE(2); offset += datagram[offset + 1]!) {
    out.push({ type: datagram[offset]!, value: datagram.subarray(offset + 2, offset + datagram[offset + 1]!) });
  }
  return out;
}

/**
 * The reply as a NAS that checks it sees it: RFC 2865 §3 Response Authenticator, and where the Message-Authenticator
 * is ('first', 'absent', or 'not first'), checked per RFC 3579 §3.2 ("HMAC-MD5 (Type, Identifier, Length, Request
 * Authenticator, Attributes)" with the attribute zeroed) when present.
 */
function inspect(reply: Buffer, req: Buffer): { code: number; responseAuth: boolean; ma: 'first' | 'absent' | 'not first' | 'wrong' } {
  const requestAuthenticator = req.subarray(4, 20);
  const responseAuth = createHash('md5').update(reply.subarray(0, 4)).update(requestAuthenticator).update(reply.subarray(20)).update(SECRET).digest();
  const attributes = attributesOf(reply);
  const at = attributes.findIndex((a) => a.type === Attr.MessageAuthenticator);
  let ma: 'first' | 'absent' | 'not first' | 'wrong' = at === -1 ? 'absent' : at === 0 ? 'first' : 'not first';
  if (at === 0) {
    const copy = Buffer.from(reply);
    requestAuthenticator.copy(copy, 4);
    copy.fill(0, 22, 38);
    if (!createHmac('md5', SECRET).update(copy).digest().equals(attributes[0]!.value)) ma = 'wrong';
  }
  return { code: reply[0]!, responseAuth: responseAuth.equals(reply.subarray(4, 20)), ma };
}

async function dropped(reason: string): Promise<number> {
  return (await metricOf(t, 'radotp_dropped_total', `reason="${reason}"`)) ?? 0;
}

const user = (name: string, password: string): RawAttribute[] => [
  { type: Attr.UserName, value: Buffer.from(name) },
  { type: Attr.UserPassword, value: Buffer.from(password) },
];
const PROXY_STATE: RawAttribute = { type: Attr.ProxyState, value: Buffer.from('collision blocks would go here') };
/** User-Name and an EAP-Response/Identity for "alice" (RFC 3748 §5.1), as an 802.1X switch sends them. */
const EAP: RawAttribute[] = [
  { type: Attr.UserName, value: Buffer.from('alice') },
  { type: Attr.EapMessage, value: Buffer.from('0201000a01616c696365', 'hex') },
];

describe('every Accept, Reject and Challenge carries Message-Authenticator, first', () => {
  const LOGINS = {
    'right password': user('alice', 'correct horse'), // Access-Accept
    'wrong password': user('alice', 'wrong'), // Access-Reject
    'token user\'s password': user('tom', PASSWORD), // Access-Challenge for the code
  };
  const REPLY: Record<number, string> = { [Code.AccessAccept]: 'Access-Accept', [Code.AccessReject]: 'Access-Reject', [Code.AccessChallenge]: 'Access-Challenge' };
  // [NAS, request signed, what the user sends, the reply, where its Message-Authenticator is]
  const cases: [keyof typeof NAS, boolean, keyof typeof LOGINS, number, 'first' | 'absent'][] = [
    ['strict', true, 'right password', Code.AccessAccept, 'first'],
    ['strict', true, 'wrong password', Code.AccessReject, 'first'],
    ['strict', true, "token user's password", Code.AccessChallenge, 'first'],
    ['legacy', false, 'right password', Code.AccessAccept, 'first'],
    ['legacy', false, 'wrong password', Code.AccessReject, 'first'],
    ['legacy', false, "token user's password", Code.AccessChallenge, 'first'],
    ['legacy', true, 'right password', Code.AccessAccept, 'first'],
    // a NAS that chokes on it (if-requested): left out only when its request had none
    ['checkpoint', false, 'right password', Code.AccessAccept, 'absent'],
    ['checkpoint', false, 'wrong password', Code.AccessReject, 'absent'],
    ['checkpoint', true, 'wrong password', Code.AccessReject, 'first'],
    ['checkpoint', true, "token user's password", Code.AccessChallenge, 'first'],
  ];
  test.each(cases)('%s NAS, request signed: %s, %s -> code %d, Message-Authenticator %s', async (nas, signed, login, code, where) => {
    const req = request(LOGINS[login], { ma: signed });
    const reply = await exchange(NAS[nas], req);
    expect(reply).not.toBeNull();
    const seen = inspect(reply!, req);
    expect({ ...seen, code: REPLY[seen.code] }).toEqual({ code: REPLY[code], responseAuth: true, ma: where });
  });
});

describe('a client required to send Message-Authenticator: without it, or with a wrong one, dropped and counted', () => {
  const BUILD: Record<string, () => Buffer> = {
    missing: () => request(user('alice', 'correct horse'), { ma: false }),
    'signed with another secret': () => request(user('alice', 'correct horse'), { ma: true, secret: WRONG_SECRET }),
    'tampered after signing': () => {
      const req = request(user('alice', 'correct horse'), { ma: true });
      // the header (20 octets), the Message-Authenticator (18), then User-Name's type and length: its first letter
      req[20 + 18 + 2] ^= 0x01; // "alice" -> "`lice"
      return req;
    },
  };
  // [what is wrong with the Message-Authenticator, the drop counted]
  const cases: [string, string][] = [
    ['missing', 'missing_message_authenticator'],
    ['signed with another secret', 'bad_message_authenticator'],
    ['tampered after signing', 'bad_message_authenticator'],
  ];
  test.each(cases)('%s -> no reply, counted as %s', async (what, reason) => {
    const before = await dropped(reason);
    expect(await exchange(NAS.strict, BUILD[what]!(), 500)).toBeNull();
    expect(await dropped(reason)).toBe(before + 1);
  });
});

describe('Status-Server without Message-Authenticator is dropped (RFC 5997 §3), whatever the client', () => {
  test.each(Object.keys(NAS) as (keyof typeof NAS)[])('%s NAS', async (nas) => {
    const before = await dropped('missing_message_authenticator');
    expect(await exchange(NAS[nas], request([], { ma: false, code: Code.StatusServer }), 500)).toBeNull();
    expect(await dropped('missing_message_authenticator')).toBe(before + 1);
    const signed = request([], { ma: true, code: Code.StatusServer });
    const reply = await exchange(NAS[nas], signed);
    expect(inspect(reply!, signed)).toEqual({ code: Code.AccessAccept, responseAuth: true, ma: 'first' });
  });
});

describe('EAP (which radotp does not do)', () => {
  test.each(Object.keys(NAS) as (keyof typeof NAS)[])('%s NAS: unsigned is dropped (RFC 3579 §3.2); signed gets a signed Access-Reject', async (nas) => {
    const before = await dropped('missing_message_authenticator');
    expect(await exchange(NAS[nas], request(EAP, { ma: false }), 500)).toBeNull();
    expect(await dropped('missing_message_authenticator')).toBe(before + 1);
    const signed = request(EAP, { ma: true });
    const reply = await exchange(NAS[nas], signed);
    expect(inspect(reply!, signed)).toEqual({ code: Code.AccessReject, responseAuth: true, ma: 'first' });
  });
});

describe('Proxy-State without Message-Authenticator (what Blast-RADIUS sends)', () => {
  // Dropped wherever the request must be signed anyway, and from an if-requested client, whose reply would go out
  // unsigned (FreeRADIUS's limit_proxy_state). From a client allowed to send none whose replies carry one (legacy), it
  // is answered: the Message-Authenticator first in that reply is an HMAC over the whole reply, Proxy-State included,
  // so the prefix the MD5 collision has to be computed for cannot be known before the collision blocks are chosen.
  // [NAS, what it gets]
  const cases: [keyof typeof NAS, 'dropped' | 'reply, Message-Authenticator first'][] = [
    ['strict', 'dropped'],
    ['checkpoint', 'dropped'],
    ['legacy', 'reply, Message-Authenticator first'],
  ];
  test.each(cases)('%s NAS -> %s', async (nas, outcome) => {
    const req = request([...user('alice', 'wrong'), PROXY_STATE], { ma: false });
    const before = await dropped('missing_message_authenticator');
    const reply = await exchange(NAS[nas], req, outcome === 'dropped' ? 500 : undefined);
    if (outcome === 'dropped') {
      expect(reply).toBeNull();
      expect(await dropped('missing_message_authenticator')).toBe(before + 1);
    } else {
      expect(inspect(reply!, req)).toEqual({ code: Code.AccessReject, responseAuth: true, ma: 'first' });
    }
  });
});

describe('require-message-authenticator auto: a NAS that has signed an Access-Request is held to it', () => {
  test('unsigned logins are answered until the NAS signs one, then dropped and counted; Status-Server teaches nothing', async () => {
    // an answer is waited for as long as a loaded CI machine may take over argon2id; a drop is told by the counter
    const login = (signed: boolean, timeoutMs?: number) => exchange(NAS.auto, request(user('alice', 'correct horse'), { ma: signed }), timeoutMs);
    expect((await login(false))?.[0]).toBe(Code.AccessAccept);
    expect((await exchange(NAS.auto, request([], { ma: true, code: Code.StatusServer })))?.[0]).toBe(Code.AccessAccept);
    expect((await login(false))?.[0]).toBe(Code.AccessAccept);
    expect((await login(true))?.[0]).toBe(Code.AccessAccept);
    const before = await dropped('missing_message_authenticator');
    expect(await login(false, 500)).toBeNull();
    expect(await dropped('missing_message_authenticator')).toBe(before + 1);
    expect((await login(true))?.[0]).toBe(Code.AccessAccept);
  });
});
