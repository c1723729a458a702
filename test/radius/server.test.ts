import { createHash, createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import * as radiusOracle from 'radius';
import { encodeRequest, verifyResponse } from '../../src/radius/codec';
import { ClientTable } from '../../src/radius/client-table';
import { parseListenAddress } from '../../src/radius/listen-address';
import { RateLimitedLog } from '../../src/radius/rate-limited-log';
import { RadiusServer } from '../../src/radius/server';
import { createLogger } from '../../src/obs/logger';
import type { RadiusServerOptions } from '../../src/radius/server';
import { Attr, Code } from '../../src/radius/types';
import type { ClientEntry, DropReason, IncomingRequest, RawAttribute, Reply, ReplyMessageAuthenticator } from '../../src/radius/types';

const SECRET = Buffer.from('s3cret-for-tests');
const OTHER_SECRET = Buffer.from('a-different-secret');
const NO_REPLY_WAIT_MS = 150;

// ---------------------------------------------------------------- helpers

/** A NAS: one UDP socket, sends requests, collects every datagram that comes back. */
class TestNas {
  readonly #socket: dgram.Socket;
  readonly #inbox: Buffer[] = [];
  #waiter: (() => void) | undefined;

  private constructor(socket: dgram.Socket) {
    this.#socket = socket;
    socket.on('message', (msg) => {
      this.#inbox.push(msg);
      this.#waiter?.();
    });
  }

  static async open(host = '127.0.0.1'): Promise<TestNas> {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    return new TestNas(socket);
  }

  send(datagram: Buffer, port: number, host = '127.0.0.1'): void {
    this.#socket.send(datagram, port, host);
  }

  /** The next datagram received, or null if none arrives within `timeoutMs`. */
  async next(timeoutMs = 2_000): Promise<Buffer | null> {
    if (this.#inbox.length > 0) return this.#inbox.shift()!;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#waiter = done;
    });
    this.#waiter = undefined;
    return this.#inbox.shift() ?? null;
  }

  async exchange(datagram: Buffer, port: number, host = '127.0.0.1', timeoutMs = 2_000): Promise<Buffer | null> {
    this.send(datagram, port, host);
    return this.next(timeoutMs);
  }

  close(): void {
    this.#socket.close();
  }
}

/** A promise that a test resolves by hand, to hold a handler "in progress". */
function gate<V = void>() {
  let open!: (value: V) => void;
  const promise = new Promise<V>((resolve) => (open = resolve));
  return { promise, open };
}

function client(name: string, cidr: string, extra: Partial<ClientEntry<{ site: string }>> = {}): ClientEntry<{ site: string }> {
  return { name, cidr, secret: SECRET, requireMessageAuthenticator: true, data: { site: name }, ...extra };
}

const servers: RadiusServer<unknown>[] = [];
const nases: TestNas[] = [];

afterEach(async () => {
  for (const nas of nases.splice(0)) nas.close();
  await Promise.all(servers.splice(0).map((server) => server.stop(0)));
});

type Options<T> = Partial<RadiusServerOptions<T>> & Pick<RadiusServerOptions<T>, 'handler'>;

async function startServer<T = { site: string }>(opts: Options<T>, host = '127.0.0.1') {
  const table = new ClientTable([client('loopback-v4', '127.0.0.0/8'), client('loopback-v6', '::1/128')]);
  const server = new RadiusServer<T>({
    listen: [{ host, port: 0 }],
    clients: () => table as unknown as ClientTable<T>,
    ...opts,
  });
  servers.push(server as RadiusServer<unknown>);
  const [bound] = await server.start();
  return { server, port: bound!.port };
}

async function openNas(host = '127.0.0.1'): Promise<TestNas> {
  const nas = await TestNas.open(host);
  nases.push(nas);
  return nas;
}

let nextIdentifier = 0;
function accessRequest(
  attributes: readonly RawAttribute[] = [
    { type: Attr.UserName, value: Buffer.from('alice') },
    { type: Attr.UserPassword, value: Buffer.from('correct horse 123456') },
  ],
  opts: { secret?: Buffer; messageAuthenticator?: boolean; code?: number } = {},
): Buffer {
  return encodeRequest({
    code: opts.code ?? Code.AccessRequest,
    identifier: nextIdentifier++ & 0xff,
    secret: opts.secret ?? SECRET,
    attributes,
    messageAuthenticator: opts.messageAuthenticator ?? true,
  });
}

/** User-Name and an EAP-Response/Identity for "alice" (RFC 3748 §5.1), as a NAS doing 802.1X sends them. */
const EAP_REQUEST: readonly RawAttribute[] = [
  { type: Attr.UserName, value: Buffer.from('alice') },
  { type: Attr.EapMessage, value: Buffer.from('0201000a01616c696365', 'hex') },
];

function statusServer(secret = SECRET): Buffer {
  return accessRequest([], { code: Code.StatusServer, secret });
}

/** Attributes of a datagram, parsed independently of the codec under test. */
function attributesOf(datagram: Buffer): RawAttribute[] {
  const attributes: RawAttribute[] = [];
  const end = datagram.readUInt16BE(2);
  for (let offset = 20; offset + 2 <= end; ) {
    const length = datagram[offset + 1]!;
    attributes.push({ type: datagram[offset]!, value: datagram.subarray(offset + 2, offset + length) });
    offset += length;
  }
  return attributes;
}

/** RFC 2865 §3 Response Authenticator and RFC 3579 §3.2 Message-Authenticator, recomputed here. */
function checkResponseByHand(response: Buffer, request: Buffer, secret: Buffer): { responseAuth: boolean; ma: 'absent' | 'ok' | 'bad' } {
  const requestAuthenticator = request.subarray(4, 20);
  const expected = createHash('md5')
    .update(response.subarray(0, 4))
    .update(requestAuthenticator)
    .update(response.subarray(20))
    .update(secret)
    .digest();
  let ma: 'absent' | 'ok' | 'bad' = 'absent';
  let offset = 20;
  for (const attribute of attributesOf(response)) {
    if (attribute.type === Attr.MessageAuthenticator) {
      const copy = Buffer.from(response);
      requestAuthenticator.copy(copy, 4);
      copy.fill(0, offset + 2, offset + 18);
      ma = createHmac('md5', secret).update(copy).digest().equals(attribute.value) ? 'ok' : 'bad';
    }
    offset += attribute.value.length + 2;
  }
  return { responseAuth: expected.equals(response.subarray(4, 20)), ma };
}

/** A port free on both 0.0.0.0 and :: right now (bound by the OS, then released). */
async function freeUdpPort(): Promise<number> {
  for (;;) {
    const probe = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    const port = await new Promise<number>((resolve) => probe.bind(0, '::', () => resolve(probe.address().port)));
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    if (![18120, 18121, 18130, 18131, 18199].includes(port)) return port; // the benchmark's ports
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- tests

describe('Access-Request round trips', () => {
  const replies: [name: string, reply: Reply][] = [
    ['Access-Accept', { code: Code.AccessAccept, attributes: [{ type: Attr.ReplyMessage, value: Buffer.from('welcome') }] }],
    ['Access-Reject', { code: Code.AccessReject, attributes: [] }],
    [
      'Access-Challenge',
      {
        code: Code.AccessChallenge,
        attributes: [
          { type: Attr.ReplyMessage, value: Buffer.from('enter your code') },
          { type: Attr.State, value: Buffer.from('0123456789abcdef', 'hex') },
        ],
      },
    ],
  ];

  test.each(replies)('%s from the handler reaches the NAS, signed', async (_name, reply) => {
    const seen: IncomingRequest<{ site: string }>[] = [];
    const { server, port } = await startServer({
      handler: async (req) => {
        seen.push(req);
        return reply;
      },
    });
    const nas = await openNas();
    const request = accessRequest();
    const response = await nas.exchange(request, port);

    expect(response).not.toBeNull();
    expect(response![0]).toBe(reply.code);
    expect(response![1]).toBe(request[1]); // Identifier copied from the request
    expect(verifyResponse(response!, request.subarray(4, 20), SECRET)).toBe(true);
    expect(verifyResponse(response!, request.subarray(4, 20), OTHER_SECRET)).toBe(false);
    expect(checkResponseByHand(response!, request, SECRET)).toEqual({ responseAuth: true, ma: 'ok' });

    const attributes = attributesOf(response!);
    expect(attributes[0]!.type).toBe(Attr.MessageAuthenticator); // Blast-RADIUS guidance: MA first
    expect(attributes.slice(1)).toEqual(reply.attributes);

    expect(seen).toHaveLength(1);
    expect(seen[0]!.client.name).toBe('loopback-v4');
    expect(seen[0]!.client.data).toEqual({ site: 'loopback-v4' });
    expect(seen[0]!.password?.toString()).toBe('correct horse 123456');
    expect(seen[0]!.remote.address).toBe('127.0.0.1');
    expect(server.stats.replied).toBe(1);
  });

  test('a request without User-Password reaches the handler with password undefined', async () => {
    let password: Buffer | undefined | 'not called' = 'not called';
    const { port } = await startServer({
      handler: async (req) => {
        password = req.password;
        return { code: Code.AccessReject, attributes: [] };
      },
    });
    const nas = await openNas();
    expect(await nas.exchange(accessRequest([{ type: Attr.UserName, value: Buffer.from('bob') }]), port)).not.toBeNull();
    expect(password).toBeUndefined();
  });

  test('cross-check with the `radius` npm package: it accepts our reply to its own request', async () => {
    const { port } = await startServer({
      handler: async (req) => ({
        code: req.password?.toString() === 'pa55word' ? Code.AccessAccept : Code.AccessReject,
        attributes: [{ type: Attr.ReplyMessage, value: Buffer.from('hello from radotp') }],
      }),
    });
    const secret = SECRET.toString();
    const request = radiusOracle.encode({
      code: 'Access-Request',
      secret,
      identifier: 42,
      attributes: [
        ['User-Name', 'carol'],
        ['User-Password', 'pa55word'],
        ['Proxy-State', Buffer.from('hop-1')],
      ],
      add_message_authenticator: true,
    });
    const nas = await openNas();
    const response = await nas.exchange(request, port);
    expect(response).not.toBeNull();
    expect(radiusOracle.verify_response({ response: response!, request, secret })).toBe(true);
    const decoded = radiusOracle.decode({ packet: response!, secret });
    expect(decoded.code).toBe('Access-Accept');
    expect(decoded.identifier).toBe(42);
    expect(decoded.attributes['Reply-Message']).toBe('hello from radotp');
    expect(Buffer.from(decoded.attributes['Proxy-State']).toString()).toBe('hop-1');
  });
});

describe('Message-Authenticator in replies, per client (ReplyMessageAuthenticator)', () => {
  // [client setting, request carries Message-Authenticator, reply carries it (first)]
  const cases: [ReplyMessageAuthenticator | undefined, boolean, boolean][] = [
    [undefined, true, true],
    [undefined, false, true],
    ['always', true, true],
    ['always', false, true],
    ['if-requested', true, true],
    ['if-requested', false, false],
  ];
  test.each(cases)('client %s, request with it: %s -> reply with it: %s', async (setting, inRequest, inReply) => {
    const table = new ClientTable([client('nas', '127.0.0.0/8', { requireMessageAuthenticator: false, replyMessageAuthenticator: setting })]);
    const { port } = await startServer({ clients: () => table, handler: () => ({ code: Code.AccessAccept, attributes: [{ type: Attr.ReplyMessage, value: Buffer.from('hi') }] }) });
    const nas = await openNas();
    const request = accessRequest(undefined, { messageAuthenticator: inRequest });
    const response = await nas.exchange(request, port);
    expect(checkResponseByHand(response!, request, SECRET)).toEqual({ responseAuth: true, ma: inReply ? 'ok' : 'absent' });
    expect(attributesOf(response!).map((a) => a.type)).toEqual(inReply ? [Attr.MessageAuthenticator, Attr.ReplyMessage] : [Attr.ReplyMessage]);
    // the `radius` package, as a NAS that checks replies, takes both
    expect(radiusOracle.verify_response({ response: response!, request, secret: SECRET.toString() })).toBe(true);
  });

  // Blast-RADIUS (CVE-2024-3596) forges a reply from the collision blocks an attacker on the path hides in a
  // Proxy-State, which the reply must echo (RFC 2865 §5.33); a Message-Authenticator first in the reply defeats it.
  // A reply without one (if-requested, to a request without one) must therefore not echo a Proxy-State: such a
  // request is dropped, as FreeRADIUS's limit_proxy_state does. A NAS has no Proxy-State to send (RFC 2865 §5.33: it
  // "is available to be sent by a proxy server to another server when forwarding an Access-Request").
  // [client setting, request carries Message-Authenticator, request carries Proxy-State, what the NAS gets]
  const proxyStateCases: [ReplyMessageAuthenticator, boolean, boolean, 'reply with it' | 'reply without it' | 'dropped'][] = [
    ['always', false, true, 'reply with it'],
    ['always', true, true, 'reply with it'],
    ['if-requested', true, true, 'reply with it'],
    ['if-requested', false, false, 'reply without it'],
    ['if-requested', false, true, 'dropped'],
  ];
  test.each(proxyStateCases)('client %s, request with it: %s, with Proxy-State: %s -> %s', async (setting, withMa, withProxyState, outcome) => {
    const table = new ClientTable([client('nas', '127.0.0.0/8', { requireMessageAuthenticator: false, replyMessageAuthenticator: setting })]);
    const handler = jest.fn((): Reply => ({ code: Code.AccessReject, attributes: [{ type: Attr.ReplyMessage, value: Buffer.from('no') }] }));
    const { server, port } = await startServer({ clients: () => table, handler });
    const nas = await openNas();
    const attributes: RawAttribute[] = [
      { type: Attr.UserName, value: Buffer.from('alice') },
      { type: Attr.UserPassword, value: Buffer.from('wrong') },
      ...(withProxyState ? [{ type: Attr.ProxyState, value: Buffer.from('collision blocks would go here') }] : []),
    ];
    const request = accessRequest(attributes, { messageAuthenticator: withMa });
    const response = await nas.exchange(request, port, '127.0.0.1', outcome === 'dropped' ? NO_REPLY_WAIT_MS : 2_000);
    if (outcome === 'dropped') {
      expect(response).toBeNull();
      expect(handler).not.toHaveBeenCalled();
      expect(server.stats.dropped.missing_message_authenticator).toBe(1);
      return;
    }
    expect(checkResponseByHand(response!, request, SECRET)).toEqual({ responseAuth: true, ma: outcome === 'reply with it' ? 'ok' : 'absent' });
    if (outcome === 'reply with it') expect(attributesOf(response!)[0]!.type).toBe(Attr.MessageAuthenticator);
  });

  test('Status-Server answers carry it whatever the client says (RFC 5997 §3)', async () => {
    const table = new ClientTable([client('nas', '127.0.0.0/8', { replyMessageAuthenticator: 'if-requested' })]);
    const { port } = await startServer({ clients: () => table, handler: () => null });
    const nas = await openNas();
    const request = statusServer();
    expect(checkResponseByHand((await nas.exchange(request, port))!, request, SECRET).ma).toBe('ok');
  });
});

describe('learnMessageAuthenticator (require-message-authenticator auto): required from an address once it has sent one', () => {
  // Learned per source address, not per client: a client is a network ("10.0.0.0/8") that may hold old NASes beside
  // the one that was upgraded. Learned only from an Access-Request without EAP-Message: Status-Server (RFC 5997 §3)
  // and EAP (RFC 3579 §3.2) carry one whether or not the NAS signs its PAP logins.
  // [what the NAS at `from` sends, signed, what it gets]
  type Step = [from: '127.0.0.1' | '127.0.0.2', what: 'PAP' | 'EAP' | 'Status-Server' | 'PAP, wrong secret', signed: boolean, outcome: 'answered' | DropReason];
  const sequences: [name: string, steps: Step[]][] = [
    [
      'a signed PAP login teaches it; another NAS of the same client is not affected',
      [
        ['127.0.0.1', 'PAP', false, 'answered'],
        ['127.0.0.1', 'PAP', true, 'answered'],
        ['127.0.0.1', 'PAP', false, 'missing_message_authenticator'],
        ['127.0.0.1', 'PAP', true, 'answered'],
        ['127.0.0.2', 'PAP', false, 'answered'],
      ],
    ],
    [
      'Status-Server and EAP, signed as they must be, teach nothing',
      [
        ['127.0.0.1', 'Status-Server', true, 'answered'],
        ['127.0.0.1', 'PAP', false, 'answered'],
        ['127.0.0.1', 'EAP', true, 'answered'],
        ['127.0.0.1', 'PAP', false, 'answered'],
      ],
    ],
    [
      'a wrong Message-Authenticator is dropped and teaches nothing',
      [
        ['127.0.0.1', 'PAP, wrong secret', true, 'bad_message_authenticator'],
        ['127.0.0.1', 'PAP', false, 'answered'],
      ],
    ],
  ];
  test.each(sequences)('%s', async (_name, steps) => {
    const table = new ClientTable([client('site', '127.0.0.0/8', { requireMessageAuthenticator: false, learnMessageAuthenticator: true })]);
    const handler = jest.fn((): Reply => ({ code: Code.AccessReject, attributes: [] }));
    const { server, port } = await startServer({ clients: () => table, handler });
    const nases = { '127.0.0.1': await openNas('127.0.0.1'), '127.0.0.2': await openNas('127.0.0.2') };
    const seen: string[] = [];
    for (const [from, what, signed] of steps) {
      const attributes = what === 'EAP' ? EAP_REQUEST : what === 'Status-Server' ? [] : undefined;
      const code = what === 'Status-Server' ? Code.StatusServer : Code.AccessRequest;
      const secret = what === 'PAP, wrong secret' ? OTHER_SECRET : SECRET;
      const before = { ...server.stats.dropped };
      const response = await nases[from].exchange(accessRequest(attributes, { messageAuthenticator: signed, code, secret }), port, '127.0.0.1', 500);
      const drop = (Object.keys(before) as DropReason[]).find((reason) => server.stats.dropped[reason] > before[reason]);
      seen.push(response !== null ? 'answered' : (drop ?? 'nothing'));
    }
    expect(seen).toEqual(steps.map((step) => step[3]));
  });
});

describe('Status-Server (RFC 5997)', () => {
  test('is answered with a signed Access-Accept carrying Message-Authenticator, without the handler', async () => {
    const handler = jest.fn(async (): Promise<Reply | null> => ({ code: Code.AccessReject, attributes: [] }));
    const { server, port } = await startServer({ handler });
    const nas = await openNas();
    const request = statusServer();
    const response = await nas.exchange(request, port);
    expect(response).not.toBeNull();
    expect(response![0]).toBe(Code.AccessAccept);
    expect(verifyResponse(response!, request.subarray(4, 20), SECRET)).toBe(true);
    expect(checkResponseByHand(response!, request, SECRET)).toEqual({ responseAuth: true, ma: 'ok' });
    expect(radiusOracle.verify_response({ response: response!, request, secret: SECRET.toString() })).toBe(true);
    expect(handler).not.toHaveBeenCalled();
    expect(server.stats.replied).toBe(1);
  });

  test('with a wrong secret is dropped silently', async () => {
    const { server, port } = await startServer({ handler: async () => null });
    const nas = await openNas();
    expect(await nas.exchange(statusServer(OTHER_SECRET), port, '127.0.0.1', NO_REPLY_WAIT_MS)).toBeNull();
    expect(server.stats.dropped.bad_message_authenticator).toBe(1);
  });

  test('is still answered within milliseconds while the handlers are saturated', async () => {
    const hold = gate();
    const { server, port } = await startServer({ maxPending: 4, handler: () => hold.promise.then(() => null) });
    const nas = await openNas();
    for (let i = 0; i < 6; i++) nas.send(accessRequest(), port);
    for (let i = 0; i < 100 && server.stats.pending + server.stats.dropped.overload < 6; i++) await sleep(5);
    expect(server.stats.pending).toBe(4);
    expect(server.stats.dropped.overload).toBe(2);

    const startedAt = performance.now();
    const response = await nas.exchange(statusServer(), port);
    const elapsedMs = performance.now() - startedAt;
    expect(response?.[0]).toBe(Code.AccessAccept);
    expect(elapsedMs).toBeLessThan(50); // typically well under 5 ms; generous for loaded CI machines
    hold.open();
  });
});

describe('dropping untrusted packets', () => {
  test('an unknown client is dropped silently, counted, and logged at a bounded rate', async () => {
    const warn = jest.fn();
    const table = new ClientTable([client('elsewhere', '10.0.0.0/8')]);
    const handler = jest.fn(async (): Promise<Reply | null> => ({ code: Code.AccessAccept, attributes: [] }));
    const dropped: DropReason[] = [];
    const { server, port } = await startServer({
      clients: () => table,
      handler,
      logger: { warn, info: () => undefined },
      events: { dropped: (reason) => dropped.push(reason) },
    });
    const nas = await openNas();
    for (let i = 0; i < 5; i++) nas.send(accessRequest(), port);
    expect(await nas.next(NO_REPLY_WAIT_MS)).toBeNull();
    expect(server.stats.dropped.unknown_client).toBe(5);
    expect(dropped).toEqual(Array(5).fill('unknown_client'));
    expect(handler).not.toHaveBeenCalled();
    expect(warn).toHaveBeenCalledTimes(1); // one line per source address per minute
    expect(warn.mock.calls[0]![0]).toMatchObject({ remote: '127.0.0.1' });
    expect(JSON.stringify(warn.mock.calls)).not.toContain(SECRET.toString());
  });

  const authCases: [name: string, requireMa: boolean, build: () => Buffer, outcome: DropReason | 'answered'][] = [
    ['MA required and present', true, () => accessRequest(), 'answered'],
    ['MA required but missing', true, () => accessRequest(undefined, { messageAuthenticator: false }), 'missing_message_authenticator'],
    ['MA computed with the wrong secret', true, () => accessRequest(undefined, { secret: OTHER_SECRET }), 'bad_message_authenticator'],
    ['MA wrong even though not required', false, () => accessRequest(undefined, { secret: OTHER_SECRET }), 'bad_message_authenticator'],
    ['MA not required and absent', false, () => accessRequest(undefined, { messageAuthenticator: false }), 'answered'],
    // RFC 3579 §3.2: an EAP-Message needs a Message-Authenticator whatever the client's setting
    ['EAP-Message without MA, MA not required', false, () => accessRequest(EAP_REQUEST, { messageAuthenticator: false }), 'missing_message_authenticator'],
    ['EAP-Message with MA, MA not required', false, () => accessRequest(EAP_REQUEST), 'answered'],
    [
      'MA tampered after signing',
      true,
      () => {
        const datagram = accessRequest([{ type: Attr.UserName, value: Buffer.from('alice') }]);
        datagram[datagram.length - 1] ^= 0x01; // flip a bit of User-Name
        return datagram;
      },
      'bad_message_authenticator',
    ],
  ];
  test.each(authCases)('%s -> %s', async (_name, requireMa, build, outcome) => {
    const table = new ClientTable([client('nas', '127.0.0.1', { requireMessageAuthenticator: requireMa })]);
    const handler = jest.fn(async (): Promise<Reply | null> => ({ code: Code.AccessReject, attributes: [] }));
    const { server, port } = await startServer({ clients: () => table, handler });
    const nas = await openNas();
    const response = await nas.exchange(build(), port, '127.0.0.1', outcome === 'answered' ? 2_000 : NO_REPLY_WAIT_MS);
    if (outcome === 'answered') {
      expect(response?.[0]).toBe(Code.AccessReject);
      expect(handler).toHaveBeenCalledTimes(1);
    } else {
      expect(response).toBeNull(); // never answered with a Reject (RFC 2865 §3: silently discarded)
      expect(handler).not.toHaveBeenCalled();
      expect(server.stats.dropped[outcome]).toBe(1);
    }
  });

  test('garbage datagrams are counted and do not disturb the next good request', async () => {
    const { server, port } = await startServer({ handler: async () => ({ code: Code.AccessAccept, attributes: [] }) });
    const nas = await openNas();
    nas.send(Buffer.from([1, 2, 3]), port);
    nas.send(Buffer.alloc(0), port);
    const lies = accessRequest();
    lies.writeUInt16BE(lies.length + 10, 2); // Length field longer than the datagram
    nas.send(lies, port);
    expect(await nas.next(NO_REPLY_WAIT_MS)).toBeNull();
    const dropped = Object.entries(server.stats.dropped).reduce((sum, [, n]) => sum + n, 0);
    expect(dropped).toBe(3);
    expect(server.stats.dropped.too_short).toBe(2);
    expect((await nas.exchange(accessRequest(), port))?.[0]).toBe(Code.AccessAccept);
  });

  /** An Access-Request with `tail` after its attributes and its Length field set to `length(datagram)`. */
  const withTail = (tail: number[], length: (datagram: Buffer) => number): Buffer => {
    const datagram = Buffer.concat([accessRequest(), Buffer.from(tail)]);
    datagram.writeUInt16BE(length(datagram), 2);
    return datagram;
  };
  const malformed: [what: string, reason: DropReason, build: () => Buffer][] = [
    ['three octets', 'too_short', () => Buffer.from([1, 2, 3])],
    ['a Length longer than the datagram', 'length_mismatch', () => withTail([], (d) => d.length + 10)],
    ['an attribute of Length 0', 'attribute_too_short', () => withTail([Attr.ReplyMessage, 0], (d) => d.length)],
    ['an Accounting-Request', 'unsupported_code', () => accessRequest([], { code: Code.AccountingRequest })],
  ];
  test.each(malformed)(
    '%s: from an address that is no client, dropped as unknown_client; from a client, as %s, its log line naming the client',
    async (_what, reason, build) => {
      const warn = jest.fn();
      const table = new ClientTable([client('nas', '127.0.0.1')]);
      const handler = jest.fn(async (): Promise<Reply | null> => ({ code: Code.AccessAccept, attributes: [] }));
      const { server, port } = await startServer({ clients: () => table, handler, logger: { warn, info: () => undefined } });
      const stranger = await openNas('127.0.0.2');
      const nas = await openNas();
      const datagram = build();
      stranger.send(datagram, port);
      nas.send(datagram, port);
      expect(await nas.next(NO_REPLY_WAIT_MS)).toBeNull();
      expect(await stranger.next(0)).toBeNull();
      expect(handler).not.toHaveBeenCalled();
      // RFC 2865 §3: "A request from a client for which the RADIUS server does not have a shared secret MUST be
      // silently discarded", whatever it holds: a scanner's junk is not a configured NAS's malformed packet
      expect(Object.entries(server.stats.dropped).filter(([, n]) => n > 0)).toEqual([[reason, 1], ['unknown_client', 1]]);
      const lines = warn.mock.calls.map(([fields, msg]) => ({ ...(fields as object), msg }));
      expect(lines).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ remote: '127.0.0.2', msg: 'datagram from an address that is not a configured RADIUS client; dropped' }),
          expect.objectContaining({ remote: '127.0.0.1', reason, client: 'nas', msg: 'RADIUS packet dropped' }),
        ]),
      );
      expect(lines).toHaveLength(2);
    },
  );

  test('a User-Password that cannot be decrypted is dropped, also on retransmission', async () => {
    // RFC 2865 §5.2: the hidden value is a multiple of 16 octets; 5 octets cannot be decrypted.
    const table = new ClientTable([client('nas', '127.0.0.1', { requireMessageAuthenticator: false })]);
    const handler = jest.fn(async (): Promise<Reply | null> => ({ code: Code.AccessAccept, attributes: [] }));
    const { server, port } = await startServer({ clients: () => table, handler });
    const header = Buffer.from([Code.AccessRequest, 77, 0, 0]);
    const body = Buffer.concat([Buffer.alloc(16, 7), Buffer.from([Attr.UserPassword, 7]), Buffer.from('abcde')]);
    const datagram = Buffer.concat([header, body]);
    datagram.writeUInt16BE(datagram.length, 2);
    const nas = await openNas();
    nas.send(datagram, port);
    nas.send(datagram, port);
    expect(await nas.next(NO_REPLY_WAIT_MS)).toBeNull();
    expect(handler).not.toHaveBeenCalled();
    expect(server.stats.dropped.bad_password_field).toBe(2);
  });
});

describe('a User-Password that decrypts to something nobody typed: a wrong shared secret, dropped', () => {
  // Without Message-Authenticator (a legacy NAS) nothing else tells a wrong secret: the password "decrypts" (RFC 2865
  // §5.2) to random octets, which were answered as a wrong password and counted toward the user's lockout
  // (auth.lockout), so a NAS set up with a mistyped secret locked out every user who tried it. Random octets are
  // never text (valid UTF-8 without control characters) but about once in ten million 16-octet blocks; a password
  // typed on a keyboard always is. Dropped, as a wrong Message-Authenticator is (RFC 3579 §3.2).
  // [what was typed, outcome, the typed octets, secret the NAS hid them with]
  const cases: [string, 'answered' | 'password_not_text', Buffer, Buffer][] = [
    ['an ASCII password', 'answered', Buffer.from('correct horse'), SECRET],
    ['a code', 'answered', Buffer.from('123456'), SECRET],
    ['a password in UTF-8 with accents and an emoji', 'answered', Buffer.from('pässwörd 🔑'), SECRET],
    ['an empty password', 'answered', Buffer.alloc(0), SECRET],
    ['a 128-octet password', 'answered', Buffer.alloc(128, 0x61), SECRET],
    ['the right password hidden with another secret', 'password_not_text', Buffer.from('correct horse'), OTHER_SECRET],
    ['a long password hidden with another secret', 'password_not_text', Buffer.alloc(100, 0x61), OTHER_SECRET],
    ['Latin-1, not UTF-8 (0xE9)', 'password_not_text', Buffer.from('pass\xe9', 'latin1'), SECRET],
    ['a control character (ESC)', 'password_not_text', Buffer.from('pass\x1bword'), SECRET],
    ['a NUL inside', 'password_not_text', Buffer.from('pass\0word'), SECRET],
  ];
  // With a Message-Authenticator that matched, the secret is right: what the NAS hid is what it sent, decided as usual.
  const signed: [string, Buffer][] = [
    ['Latin-1, not UTF-8 (0xE9)', Buffer.from('pass\xe9', 'latin1')],
    ['a control character (ESC)', Buffer.from('pass\x1bword')],
  ];
  test.each(signed)('%s, in a request with a Message-Authenticator -> answered', async (_what, typed) => {
    const handler = jest.fn((_request: IncomingRequest<unknown>): Reply => ({ code: Code.AccessReject, attributes: [] }));
    const { port } = await startServer({ handler });
    const nas = await openNas();
    const request = accessRequest([{ type: Attr.UserName, value: Buffer.from('alice') }, { type: Attr.UserPassword, value: typed }]);
    expect((await nas.exchange(request, port))?.[0]).toBe(Code.AccessReject);
    expect(handler.mock.calls[0]![0].password).toEqual(typed);
  });
  test.each(cases)('%s -> %s', async (_what, outcome, typed, hiddenWith) => {
    const table = new ClientTable([client('legacy', '127.0.0.1', { requireMessageAuthenticator: false })]);
    const handler = jest.fn((_request: IncomingRequest<unknown>): Reply => ({ code: Code.AccessReject, attributes: [] }));
    const { server, port } = await startServer({ clients: () => table, handler });
    const nas = await openNas();
    const request = accessRequest([{ type: Attr.UserName, value: Buffer.from('alice') }, { type: Attr.UserPassword, value: typed }], {
      secret: hiddenWith,
      messageAuthenticator: false,
    });
    const response = await nas.exchange(request, port, '127.0.0.1', outcome === 'answered' ? 2_000 : NO_REPLY_WAIT_MS);
    if (outcome === 'answered') {
      expect(response?.[0]).toBe(Code.AccessReject);
      expect(handler.mock.calls[0]![0].password).toEqual(typed);
      return;
    }
    expect(response).toBeNull();
    expect(handler).not.toHaveBeenCalled();
    expect(server.stats.dropped[outcome]).toBe(1);
    // a retransmission is dropped the same way
    expect(await nas.exchange(request, port, '127.0.0.1', NO_REPLY_WAIT_MS)).toBeNull();
    expect(server.stats.dropped[outcome]).toBe(2);
  });
});

describe('malformed Access-Requests are dropped, not answered (RFC 2865 §4.1, §5.44)', () => {
  const user = (name: string): RawAttribute => ({ type: Attr.UserName, value: Buffer.from(name) });
  const password = (clear: string): RawAttribute => ({ type: Attr.UserPassword, value: Buffer.from(clear) });
  const cases: [name: string, outcome: DropReason | 'answered', attributes: RawAttribute[]][] = [
    ['one User-Name, one User-Password', 'answered', [user('alice'), password('pw')]],
    ['two User-Names (alice, then bob)', 'repeated_attribute', [user('alice'), user('bob'), password('pw')]],
    ['two User-Passwords', 'repeated_attribute', [user('alice'), password('wrong'), password('pw')]],
    ['User-Password and CHAP-Password', 'pap_and_chap', [user('alice'), password('pw'), { type: Attr.ChapPassword, value: Buffer.alloc(17, 1) }]],
    // RFC 3579 §3.3 [Note 1]: PAP, CHAP, ARAP and EAP credentials, at most one kind per request
    ['User-Password and EAP-Message', 'mixed_credentials', [user('alice'), password('pw'), ...EAP_REQUEST.slice(1)]],
  ];
  test.each(cases)('%s -> %s', async (_name, outcome, attributes) => {
    const handler = jest.fn((): Reply | null => ({ code: Code.AccessAccept, attributes: [] }));
    const dropped: DropReason[] = [];
    const warn = jest.fn();
    const { server, port } = await startServer({
      handler,
      events: { dropped: (reason) => dropped.push(reason) },
      logger: { warn, info: () => undefined },
    });
    const nas = await openNas();
    const request = accessRequest(attributes);
    const response = await nas.exchange(request, port, '127.0.0.1', outcome === 'answered' ? 2_000 : NO_REPLY_WAIT_MS);
    if (outcome === 'answered') {
      expect(response?.[0]).toBe(Code.AccessAccept);
      expect(handler).toHaveBeenCalledTimes(1);
      return;
    }
    expect(response).toBeNull();
    expect(handler).not.toHaveBeenCalled();
    expect(dropped).toEqual([outcome]);
    expect(server.stats.dropped[outcome]).toBe(1);
    expect(warn.mock.calls[0]![0]).toMatchObject({ reason: outcome, client: 'loopback-v4' });
    // a retransmission is dropped the same way
    expect(await nas.exchange(request, port, '127.0.0.1', NO_REPLY_WAIT_MS)).toBeNull();
    expect(server.stats.dropped[outcome]).toBe(2);
  });
});

describe('Proxy-State (RFC 2865 §5.33)', () => {
  test('is echoed unmodified, in order, after the handler attributes', async () => {
    const { port } = await startServer({
      handler: async () => ({ code: Code.AccessReject, attributes: [{ type: Attr.ReplyMessage, value: Buffer.from('no') }] }),
    });
    const proxyStates = [Buffer.from('first-proxy'), Buffer.from([0, 1, 2, 0xff]), Buffer.from('third')];
    const request = accessRequest([
      { type: Attr.ProxyState, value: proxyStates[0]! },
      { type: Attr.UserName, value: Buffer.from('alice') },
      { type: Attr.ProxyState, value: proxyStates[1]! },
      { type: Attr.UserPassword, value: Buffer.from('x') },
      { type: Attr.ProxyState, value: proxyStates[2]! },
    ]);
    const nas = await openNas();
    const response = await nas.exchange(request, port);
    expect(verifyResponse(response!, request.subarray(4, 20), SECRET)).toBe(true);
    expect(attributesOf(response!).map((a) => [a.type, a.type === Attr.MessageAuthenticator ? 'MA' : a.value.toString('hex')])).toEqual([
      [Attr.MessageAuthenticator, 'MA'],
      [Attr.ReplyMessage, Buffer.from('no').toString('hex')],
      ...proxyStates.map((value) => [Attr.ProxyState, value.toString('hex')]),
    ]);
  });

  test('is echoed in the Status-Server answer too', async () => {
    const { port } = await startServer({ handler: async () => null });
    const request = accessRequest([{ type: Attr.ProxyState, value: Buffer.from('ps') }], { code: Code.StatusServer });
    const nas = await openNas();
    const response = await nas.exchange(request, port);
    expect(attributesOf(response!).filter((a) => a.type === Attr.ProxyState).map((a) => a.value.toString())).toEqual(['ps']);
  });
});

describe('a reply that cannot be encoded', () => {
  // 15 Proxy-States of 253 octets: the request fits in 4096 octets, and so would a bare reply echoing them
  const bigProxyStates: RawAttribute[] = Array.from({ length: 15 }, (_, i) => ({ type: Attr.ProxyState, value: Buffer.alloc(253, i) }));
  const welcome: RawAttribute = { type: Attr.ReplyMessage, value: Buffer.alloc(253, 0x61) };

  // [what, drop reason, request's extra attributes, handler's reply attributes, log message]
  const cases: [string, DropReason, RawAttribute[], RawAttribute[], RegExp][] = [
    // RFC 2865 §5.33 Proxy-State "MUST be returned unmodified": with a Reply-Message it no longer fits in 4096 octets
    ['Proxy-State near 4 KB plus a Reply-Message', 'reply_too_large', bigProxyStates, [welcome], /exceed 4096 octets/],
    ['a handler attribute over 253 octets (a bug)', 'handler_fail', [], [{ type: Attr.ReplyMessage, value: Buffer.alloc(254, 0x61) }], /could not encode/],
  ];
  test.each(cases)('%s: nothing sent, dropped as %s, packet code logged', async (_what, reason, extra, replyAttributes, message) => {
    const lines: string[] = [];
    const logger = createLogger('warn', { destination: { write: (line: string) => void lines.push(line) } });
    const { server, port } = await startServer({
      handler: () => ({ code: Code.AccessAccept, attributes: replyAttributes }),
      logger,
    });
    const nas = await openNas();
    const request = accessRequest([
      { type: Attr.UserName, value: Buffer.from('alice') },
      { type: Attr.UserPassword, value: Buffer.from('pw') },
      ...extra,
    ]);
    expect(request.length).toBeLessThanOrEqual(4096);
    expect(await nas.exchange(request, port, '127.0.0.1', NO_REPLY_WAIT_MS)).toBeNull();
    expect(server.stats.dropped[reason]).toBe(1);
    expect(Object.entries(server.stats.dropped).filter(([, n]) => n > 0)).toEqual([[reason, 1]]);
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ msg: expect.stringMatching(message), client: 'loopback-v4', packetCode: Code.AccessAccept });
    expect(JSON.stringify(logged)).not.toContain('[redacted]');
  });
});

describe('a request whose reply could not fit (RFC 2865 §3: at most 4096 octets)', () => {
  /** Proxy-States (RFC 2865 §5.33: echoed unmodified) taking `octets` octets in all, attribute headers included. */
  function proxyStatesOf(octets: number): RawAttribute[] {
    const out: RawAttribute[] = [];
    for (let left = octets, i = 0; left > 0; i++) {
      const length = left - 255 >= 3 || left <= 255 ? Math.min(left, 255) : left - 3; // never leave an attribute of under 3 octets
      out.push({ type: Attr.ProxyState, value: Buffer.alloc(length - 2, i) });
      left -= length;
    }
    return out;
  }
  const HEADER_AND_MA = 20 + 18;
  // [what, the octets of Proxy-State, maxReplyAttributesLength, decided and answered]
  const cases: [string, number, number | undefined, boolean][] = [
    ['leaves exactly the room of the largest reply', 4096 - HEADER_AND_MA - 300, 300, true],
    ['leaves an octet less than the largest reply', 4096 - HEADER_AND_MA - 299, 300, false],
    ['near 4 KB, with a largest reply of 160 octets', 3950, 160, false],
    ['a little, with a largest reply of 160 octets', 40, 160, true],
    ['near 4 KB, no largest reply given: left to the encoder', 3825, undefined, true],
  ];
  test.each(cases)('Proxy-State that %s (%d octets, largest reply %s): answered %s', async (_what, octets, maxReplyAttributesLength, answered) => {
    let calls = 0;
    const { server, port } = await startServer({
      handler: () => {
        calls++;
        return { code: Code.AccessAccept, attributes: [] };
      },
      ...(maxReplyAttributesLength === undefined ? {} : { maxReplyAttributesLength }),
    });
    const nas = await openNas();
    const request = accessRequest([{ type: Attr.UserName, value: Buffer.from('alice') }, { type: Attr.UserPassword, value: Buffer.from('pw') }, ...proxyStatesOf(octets)]);
    expect(request.length).toBeLessThanOrEqual(4096);
    const response = await nas.exchange(request, port, '127.0.0.1', NO_REPLY_WAIT_MS);
    if (answered) {
      expect(calls).toBe(1);
      expect(attributesOf(response!).filter((a) => a.type === Attr.ProxyState).reduce((n, a) => n + 2 + a.value.length, 0)).toBe(octets);
      return;
    }
    // dropped before the handler decided anything, and its retransmission the same way
    expect(response).toBeNull();
    expect(await nas.exchange(request, port, '127.0.0.1', NO_REPLY_WAIT_MS)).toBeNull();
    expect(calls).toBe(0);
    expect(Object.entries(server.stats.dropped).filter(([, n]) => n > 0)).toEqual([['reply_too_large', 2]]);
  });
});

describe('retransmissions (RFC 5080 §2.2.2)', () => {
  test.each([
    ['a promise', (reply: Reply): Reply | Promise<Reply> => Promise.resolve(reply)],
    ['a plain value (decided without waiting)', (reply: Reply): Reply | Promise<Reply> => reply],
  ])('get the byte-identical earlier reply and the handler runs once (handler returns %s)', async (_what, give) => {
    let calls = 0;
    const { server, port } = await startServer({
      handler: () =>
        give({
          code: Code.AccessChallenge,
          // a different State on every call would expose a second run
          attributes: [{ type: Attr.State, value: Buffer.from(`state-${++calls}`) }],
        }),
    });
    const nas = await openNas();
    const request = accessRequest();
    const first = await nas.exchange(request, port);
    const second = await nas.exchange(request, port);
    expect(first).not.toBeNull();
    expect(second).not.toBeNull();
    expect(second!.equals(first!)).toBe(true);
    expect(calls).toBe(1);
    expect(server.stats.duplicatesAnswered).toBe(1);
  });

  test('a different request from the same NAS is processed', async () => {
    let calls = 0;
    const { port } = await startServer({ handler: async () => (calls++, { code: Code.AccessReject, attributes: [] }) });
    const nas = await openNas();
    expect(await nas.exchange(accessRequest(), port)).not.toBeNull();
    expect(await nas.exchange(accessRequest(), port)).not.toBeNull();
    expect(calls).toBe(2);
  });

  test('arriving while the first copy is still in progress are dropped; one reply is sent', async () => {
    const hold = gate();
    let calls = 0;
    const { server, port } = await startServer({
      handler: async () => {
        calls++;
        await hold.promise;
        return { code: Code.AccessAccept, attributes: [] };
      },
    });
    const nas = await openNas();
    const request = accessRequest();
    nas.send(request, port);
    await sleep(20);
    nas.send(request, port);
    nas.send(request, port);
    await sleep(20);
    expect(server.stats.dropped.duplicate_in_progress).toBe(2);
    hold.open();
    expect((await nas.next())?.[0]).toBe(Code.AccessAccept);
    expect(await nas.next(NO_REPLY_WAIT_MS)).toBeNull();
    expect(calls).toBe(1);
  });

  test.each([
    ['returned null', async (): Promise<Reply | null> => null, 'unanswered'],
    ['returned null at once', (): Reply | null => null, 'unanswered'],
    [
      'rejected',
      async (): Promise<Reply | null> => {
        throw new Error('database connection lost');
      },
      'handler_fail',
    ],
    [
      'threw at once',
      (): Reply | null => {
        throw new Error('bug');
      },
      'handler_fail',
    ],
  ] as const)('when the handler %s, nothing is sent and the retransmission is processed again', async (_what, failing, counter) => {
    let calls = 0;
    const { server, port } = await startServer({
      handler: () => (++calls === 1 ? failing() : { code: Code.AccessAccept, attributes: [] }),
    });
    const nas = await openNas();
    const request = accessRequest();
    nas.send(request, port);
    expect(await nas.next(NO_REPLY_WAIT_MS)).toBeNull();
    if (counter === 'unanswered') expect(server.stats.unanswered).toBe(1);
    else expect(server.stats.dropped.handler_fail).toBe(1);
    expect((await nas.exchange(request, port))?.[0]).toBe(Code.AccessAccept);
    expect(calls).toBe(2);
  });
});

describe('an unexpected exception while a request is handled (a bug) costs that request, counted, never 30 s of its retransmissions', () => {
  /** A reply whose attributes throw when read: the server meets it while encoding, after the handler decided. */
  const explodingReply = (): Reply =>
    ({
      code: Code.AccessAccept,
      get attributes(): readonly RawAttribute[] {
        throw new TypeError('attributes is not iterable');
      },
    }) as Reply;
  const boom = () => {
    throw new Error('event listener bug');
  };
  // [what, handler, events, first copy answered, retransmission answered, drops after both copies, handler calls]
  const cases: [string, () => Reply | Promise<Reply>, RadiusServerOptions<unknown>['events'], boolean, boolean, [DropReason, number][], number][] = [
    // the handler decided (a code may be spent): not decided again, its retransmission dropped as it was
    ['encoding a reply decided at once throws', explodingReply, undefined, false, false, [['internal_error', 2]], 1],
    ['encoding a reply decided later throws', async () => explodingReply(), undefined, false, false, [['internal_error', 2]], 1],
    // the reply went out: the retransmission gets it byte for byte (RFC 5080 §2.2.2), nothing was dropped
    ['the replied event throws after the reply was sent', async () => ({ code: Code.AccessReject, attributes: [] }), { replied: boom }, true, true, [], 1],
    // before any decision: each copy dropped and counted, and an event that throws again in the catch does not escape it
    ['the received event throws (and so does dropped)', async () => ({ code: Code.AccessReject, attributes: [] }), { received: boom, dropped: boom }, false, false, [['internal_error', 2]], 0],
  ];
  test.each(cases)('%s', async (_what, handler, events, firstAnswered, againAnswered, drops, calls) => {
    const lines: string[] = [];
    const logger = createLogger('warn', { destination: { write: (line: string) => void lines.push(line) } });
    let ran = 0;
    const { server, port } = await startServer({ handler: () => (ran++, handler()), events, logger });
    const nas = await openNas();
    const request = accessRequest();
    const first = await nas.exchange(request, port, '127.0.0.1', NO_REPLY_WAIT_MS);
    const again = await nas.exchange(request, port, '127.0.0.1', NO_REPLY_WAIT_MS);
    expect([first !== null, again !== null]).toEqual([firstAnswered, againAnswered]);
    if (first !== null && again !== null) expect(again.equals(first)).toBe(true);
    expect(Object.entries(server.stats.dropped).filter(([, n]) => n > 0)).toEqual(drops);
    expect(ran).toBe(calls);
    expect(server.stats.pending).toBe(0);
    // logged once for both copies (rate-limited), with the error and nothing secret
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ msg: expect.stringMatching(/unexpected error/), err: expect.stringMatching(/iterable|event listener bug/) });
    expect(lines.join('')).not.toContain(SECRET.toString());
    expect(lines.join('')).not.toContain('correct horse');
  });
});

describe('overload shedding', () => {
  test('beyond maxPending requests are dropped as overload; the admitted ones are answered', async () => {
    const hold = gate();
    const { server, port } = await startServer({
      maxPending: 3,
      handler: async () => {
        await hold.promise;
        return { code: Code.AccessReject, attributes: [] };
      },
    });
    const nas = await openNas();
    for (let i = 0; i < 10; i++) nas.send(accessRequest(), port);
    for (let i = 0; i < 100 && server.stats.pending + server.stats.dropped.overload < 10; i++) await sleep(5);
    expect(server.stats.pending).toBe(3);
    expect(server.stats.dropped.overload).toBe(7);
    hold.open();
    const answers = [await nas.next(), await nas.next(), await nas.next(), await nas.next(NO_REPLY_WAIT_MS)];
    expect(answers.map((a) => a?.[0] ?? null)).toEqual([Code.AccessReject, Code.AccessReject, Code.AccessReject, null]);
    expect(server.stats.pending).toBe(0);
    // capacity is back: a new request is admitted
    expect((await nas.exchange(accessRequest(), port))?.[0]).toBe(Code.AccessReject);
  });
});

describe('stop()', () => {
  test('waits for in-flight handlers, sends their replies, and drops new packets meanwhile', async () => {
    const hold = gate();
    const { server, port } = await startServer({
      handler: async () => {
        await hold.promise;
        return { code: Code.AccessAccept, attributes: [] };
      },
    });
    const nas = await openNas();
    nas.send(accessRequest(), port);
    for (let i = 0; i < 100 && server.stats.pending === 0; i++) await sleep(5);
    let stopped = false;
    const stopping = server.stop(5_000).then(() => (stopped = true));
    let stoppedAgain = false;
    void server.stop(0).then(() => (stoppedAgain = true)); // must not cut the first call's grace short
    await sleep(30);
    expect(stopped).toBe(false);
    expect(stoppedAgain).toBe(false);
    nas.send(accessRequest(), port);
    await sleep(30);
    expect(server.stats.dropped.shutting_down).toBe(1);
    hold.open();
    expect((await nas.next())?.[0]).toBe(Code.AccessAccept);
    await stopping;
    expect(stopped).toBe(true);
    // the socket is closed: nothing answers any more
    nas.send(statusServer(), port);
    expect(await nas.next(NO_REPLY_WAIT_MS)).toBeNull();
  });

  test('gives up after the grace period and sends nothing late', async () => {
    const hold = gate();
    const { server, port } = await startServer({
      handler: async () => {
        await hold.promise;
        return { code: Code.AccessAccept, attributes: [] };
      },
    });
    const nas = await openNas();
    nas.send(accessRequest(), port);
    for (let i = 0; i < 100 && server.stats.pending === 0; i++) await sleep(5);
    const startedAt = performance.now();
    await server.stop(100);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(90);
    hold.open();
    await sleep(20);
    expect(server.stats.dropped.shutting_down).toBe(1);
    expect(server.stats.pending).toBe(0);
    expect(await nas.next(NO_REPLY_WAIT_MS)).toBeNull();
  });
});

describe('IPv6', () => {
  test('a client on ::1 is matched by its IPv6 CIDR, the most specific one winning', async () => {
    const table = new ClientTable([
      client('any-v6', '::/0', { secret: OTHER_SECRET }),
      client('loopback-v6', '::1/128'),
    ]);
    const seen: string[] = [];
    const { port } = await startServer(
      {
        clients: () => table,
        handler: async (req) => (seen.push(req.client.name), { code: Code.AccessAccept, attributes: [] }),
      },
      '::1',
    );
    const nas = await openNas('::1');
    const request = accessRequest();
    const response = await nas.exchange(request, port, '::1');
    expect(response?.[0]).toBe(Code.AccessAccept);
    expect(verifyResponse(response!, request.subarray(4, 20), SECRET)).toBe(true);
    expect(seen).toEqual(['loopback-v6']);
  });

  test('IPv4 and IPv6 wildcard listeners can share one port', async () => {
    const port = await freeUdpPort();
    const table = new ClientTable([client('v4', '127.0.0.1'), client('v6', '::1')]);
    const seen: string[] = [];
    const server = new RadiusServer({
      listen: [
        { host: '0.0.0.0', port },
        { host: '::', port },
      ],
      clients: () => table,
      handler: async (req) => (seen.push(req.client.name), { code: Code.AccessAccept, attributes: [] }),
    });
    servers.push(server as RadiusServer<unknown>);
    expect(await server.start()).toEqual([
      { address: '0.0.0.0', port },
      { address: '::', port },
    ]);
    const nas4 = await openNas('127.0.0.1');
    const nas6 = await openNas('::1');
    expect((await nas4.exchange(accessRequest(), port))?.[0]).toBe(Code.AccessAccept);
    expect((await nas6.exchange(accessRequest(), port, '::1'))?.[0]).toBe(Code.AccessAccept);
    expect(seen).toEqual(['v4', 'v6']);
  });
});

describe('a wildcard listener on a host with several addresses', () => {
  /** Sends `request` from 127.0.0.1 to `to`; resolves with the reply and the address it came from. */
  async function exchangeFrom127(request: Buffer, to: string, port: number): Promise<{ from: string; reply: Buffer } | null> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      return await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(null), 1_000);
        socket.on('message', (reply, rinfo) => {
          clearTimeout(timer);
          resolve({ from: rinfo.address, reply });
        });
        socket.send(request, port, to);
      });
    } finally {
      socket.close();
    }
  }

  // A NAS (radclient too: "Received reply to request we did not send") only takes a reply from the
  // address it sent the request to. 127.0.0.2 is local on Linux (lo holds 127.0.0.0/8) but is not
  // the source the kernel picks to reach 127.0.0.1, just as a VIP is not the primary address of eth0.
  test('the reply comes from the address the request was sent to', async () => {
    const port = await freeUdpPort();
    const table = new ClientTable([client('v4', '127.0.0.1')]);
    const server = new RadiusServer({
      listen: [{ host: '0.0.0.0', port }],
      clients: () => table,
      handler: () => ({ code: Code.AccessAccept, attributes: [] }),
      localAddresses: (family: 4 | 6) => (family === 4 ? ['127.0.0.1', '127.0.0.2'] : []),
    } as RadiusServerOptions<{ site: string }>);
    servers.push(server as RadiusServer<unknown>);
    expect(await server.start()).toEqual([{ address: '0.0.0.0', port }]);
    for (const to of ['127.0.0.2', '127.0.0.1']) {
      const answer = await exchangeFrom127(accessRequest(), to, port);
      expect(answer?.reply[0]).toBe(Code.AccessAccept);
      expect(answer?.from).toBe(to);
    }
  });

  /** A server on 0.0.0.0 whose host addresses are `hostAddresses.v4`, rescanned every 50 ms. */
  async function wildcardServer(hostAddresses: { v4: string[] }): Promise<number> {
    const port = await freeUdpPort();
    const table = new ClientTable([client('v4', '127.0.0.1')]);
    const server = new RadiusServer({
      listen: [{ host: '0.0.0.0', port }],
      clients: () => table,
      handler: () => ({ code: Code.AccessAccept, attributes: [] }),
      localAddresses: (family: 4 | 6) => (family === 4 ? hostAddresses.v4 : []),
      addressRescanMs: 50,
    } as RadiusServerOptions<{ site: string }>);
    servers.push(server as RadiusServer<unknown>);
    await server.start();
    return port;
  }

  test('an address added after the start (a VIP moving in) is listened on within the rescan interval', async () => {
    const host = { v4: ['127.0.0.1'] };
    const port = await wildcardServer(host);
    host.v4 = ['127.0.0.1', '127.0.0.3'];
    await sleep(200);
    const answer = await exchangeFrom127(accessRequest(), '127.0.0.3', port);
    expect(answer?.from).toBe('127.0.0.3');
  });

  // IPv6 temporary addresses (RFC 8981: a new one every day on `[::]`, the default), DHCP renumbering, VIPs
  // moving between hosts: a socket kept per address the host ever had is a file descriptor leaked per address.
  test('an address the host no longer has is let go (its port is free), and taken again when it comes back', async () => {
    const host = { v4: ['127.0.0.1', '127.0.0.3'] };
    const port = await wildcardServer(host);
    const bindable = async (address: string) => {
      const probe = dgram.createSocket('udp4');
      try {
        return await new Promise<boolean>((resolve) => {
          probe.once('error', () => resolve(false));
          probe.bind(port, address, () => resolve(true));
        });
      } finally {
        probe.close();
      }
    };
    expect(await bindable('127.0.0.3')).toBe(false);
    host.v4 = ['127.0.0.1'];
    await sleep(200);
    expect(await bindable('127.0.0.3')).toBe(true);
    expect((await exchangeFrom127(accessRequest(), '127.0.0.1', port))?.from).toBe('127.0.0.1'); // the others stay
    host.v4 = ['127.0.0.1', '127.0.0.3'];
    await sleep(200);
    expect((await exchangeFrom127(accessRequest(), '127.0.0.3', port))?.from).toBe('127.0.0.3');
  });
});

describe('lifecycle and events', () => {
  test('the client table is looked up per packet, so swapping it takes effect at once', async () => {
    let table = new ClientTable([client('old', '10.0.0.0/8')]);
    const { server, port } = await startServer({ clients: () => table, handler: async () => ({ code: Code.AccessAccept, attributes: [] }) });
    const nas = await openNas();
    expect(await nas.exchange(accessRequest(), port, '127.0.0.1', NO_REPLY_WAIT_MS)).toBeNull();
    table = new ClientTable([client('new', '127.0.0.1')]);
    expect((await nas.exchange(accessRequest(), port))?.[0]).toBe(Code.AccessAccept);
    expect(server.stats.dropped.unknown_client).toBe(1);
  });

  test('events see received, replied (with a duration) and dropped', async () => {
    const received: number[] = [];
    const replied: [number, number, number][] = [];
    const dropped: DropReason[] = [];
    const { port } = await startServer({
      handler: async () => ({ code: Code.AccessReject, attributes: [] }),
      events: {
        received: (code) => received.push(code),
        replied: (code, seconds, requestCode) => replied.push([code, seconds, requestCode]),
        dropped: (reason) => dropped.push(reason),
      },
    });
    const nas = await openNas();
    await nas.exchange(accessRequest(), port);
    await nas.exchange(statusServer(), port);
    await nas.exchange(accessRequest(undefined, { secret: OTHER_SECRET }), port, '127.0.0.1', NO_REPLY_WAIT_MS);
    expect(received).toEqual([Code.AccessRequest, Code.StatusServer, Code.AccessRequest]);
    expect(replied.map(([code, , requestCode]) => [requestCode, code])).toEqual([
      [Code.AccessRequest, Code.AccessReject],
      [Code.StatusServer, Code.AccessAccept], // RFC 5997 §3: Status-Server is answered with Access-Accept
    ]);
    for (const [, seconds] of replied) expect(seconds).toBeGreaterThanOrEqual(0);
    for (const [, seconds] of replied) expect(seconds).toBeLessThan(1);
    expect(dropped).toEqual(['bad_message_authenticator']);
  });

  test('start() rejects when the address is taken, and a stopped server cannot restart', async () => {
    const { server, port } = await startServer({ handler: async () => null });
    const clash = new RadiusServer({ listen: [{ host: '127.0.0.1', port }], clients: () => new ClientTable([]), handler: async () => null });
    await expect(clash.start()).rejects.toThrow(/EADDRINUSE/);
    await server.stop();
    await expect(server.start()).rejects.toThrow(/stopped/);
  });

  test('invalid maxPending is refused', () => {
    expect(() => new RadiusServer({ listen: [], clients: () => new ClientTable([]), handler: async () => null, maxPending: 0 })).toThrow(
      /maxPending/,
    );
  });
});

describe('parseListenAddress', () => {
  const cases: [text: string, expected: { host: string; port: number } | RegExp][] = [
    ['0.0.0.0:1812', { host: '0.0.0.0', port: 1812 }],
    ['127.0.0.1', { host: '127.0.0.1', port: 1812 }],
    ['[::]:1812', { host: '::', port: 1812 }],
    ['[::1]', { host: '::1', port: 1812 }],
    ['::', { host: '::', port: 1812 }],
    ['2001:db8::1', { host: '2001:db8::1', port: 1812 }],
    ['10.0.0.1:0', { host: '10.0.0.1', port: 0 }],
    ['  10.0.0.1:65535 ', { host: '10.0.0.1', port: 65535 }],
    ['10.0.0.1:65536', /port must be 0\.\.65535/],
    ['10.0.0.1:', /port must be/],
    ['10.0.0.1:18x', /port must be/],
    ['localhost:1812', /not an IP address/],
    ['[::1:1812', /missing "\]"/],
    ['[10.0.0.1]:1812', /not an IPv6 address/],
    ['[::1]1812', /expected ":port"/],
    ['', /not an IP address/],
  ];
  test.each(cases)('%j', (text, expected) => {
    const result = parseListenAddress(text);
    if (expected instanceof RegExp) {
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error).toMatch(expected);
    } else {
      expect(result).toEqual({ ok: true, value: expected });
    }
  });

  test('a default port can be given', () => {
    expect(parseListenAddress('[::1]', 11812)).toEqual({ ok: true, value: { host: '::1', port: 11812 } });
  });
});

describe('RateLimitedLog (bounds log lines about untrusted sources)', () => {
  function limiter(globalLinesPerInterval = 20) {
    let now = 0;
    const log = new RateLimitedLog({ perKeyIntervalMs: 60_000, globalLinesPerInterval, now: () => now });
    return { log, advance: (ms: number) => (now += ms) };
  }

  test('one line per key per interval, then the next line reports what was suppressed', () => {
    const { log, advance } = limiter();
    expect(log.check('10.0.0.1')).toEqual({ log: true, suppressed: 0 });
    expect(log.check('10.0.0.1').log).toBe(false);
    expect(log.check('10.0.0.1').log).toBe(false);
    expect(log.check('10.0.0.2')).toEqual({ log: true, suppressed: 0 }); // other keys are independent
    advance(59_999);
    expect(log.check('10.0.0.1').log).toBe(false);
    advance(1);
    expect(log.check('10.0.0.1')).toEqual({ log: true, suppressed: 3 });
  });

  test('a global cap holds under a flood of distinct (spoofed) sources', () => {
    const { log, advance } = limiter(5);
    const logged = Array.from({ length: 1_000 }, (_, i) => log.check(`10.0.${i >> 8}.${i & 255}`).log).filter(Boolean);
    expect(logged).toHaveLength(5);
    advance(60_000);
    expect(log.check('10.9.9.9').log).toBe(true);
  });
});

describe('socketBufferBytes (SO_RCVBUF)', () => {
  // What Linux grants: the request, capped at net.core.rmem_max (socket(7)).
  const rmemMax = Number(require('node:fs').readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  test.each([65_536, 1_048_576, rmemMax * 2])('%d bytes asked: granted up to net.core.rmem_max, and told', async (asked) => {
    const { server } = await startServer({ handler: () => null, socketBufferBytes: asked });
    expect(server.receiveBufferBytes()).toBe(Math.min(asked, rmemMax));
  });
});
