import { createCipheriv } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { decodePacket, encodeRequest, verifyResponse } from '../../src/radius/codec';
import { decryptUserPassword } from '../../src/radius/password';
import { Attr, Code, type RawAttribute } from '../../src/radius/types';
import { ServeProcess } from '../support/serve-process';
import { startTestServer, testConfig, type TestServer } from '../support/server';

/*
 * A NAS vendor's QA run against a real `radotp serve`: valid Access-Requests and Status-Servers of every shape (each
 * client setting, with State, Proxy-State, a VSA, EAP-Message, with and without Message-Authenticator, passwords at
 * 16-octet boundaries, an empty one, User-Names in UTF-8, with a NUL, of 253 octets), most with random bytes
 * flipped, inserted or deleted, some Length fields lying, sent from three clients, an IPv6 one and an address that is
 * no client. Every datagram must end as a reply or a counted drop (/metrics), anything from the stranger as
 * unknown_client and unanswered, every reply signed for a request sent, an Access-Accept only for the right
 * password; and afterwards the server still logs in, has logged no password or secret and exits cleanly.
 * Seeded: FUZZ_SEED=<n> replays a run (the seed is in the test name).
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261204);
const WAVES = 40;
const WAVE = 100;

const STRANGER = '127.0.0.9';
const SECRETS: Readonly<Record<string, string>> = {
  '127.0.0.1': 'strict-secret-0123',
  '127.0.0.2': 'lax-secret-4567',
  '127.0.0.3': 'otp-secret-89ab',
  '::1': 'six-secret-cdef',
  [STRANGER]: 'stranger-secret-x',
};

/** Seedable: AES-128-CTR keyed by the seed (as test/radius/codec-fuzz.test.ts). */
function rng(seed: number) {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed >>> 0);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(1 << 16);
  let pool = cipher.update(zeros);
  let offset = 0;
  const take = (n: number): Buffer => {
    if (offset + n > pool.length) {
      pool = cipher.update(n > zeros.length ? Buffer.alloc(n) : zeros);
      offset = 0;
    }
    offset += n;
    return pool.subarray(offset - n, offset);
  };
  const int = (n: number): number => Math.floor((take(4).readUInt32LE(0) / 4294967296) * n);
  return { int, bytes: (n: number) => Buffer.from(take(n)), pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]! };
}
type Rng = ReturnType<typeof rng>;

let identifier = 0;
function valid(r: Rng, secret: string): Buffer {
  const attributes: RawAttribute[] = [
    { type: Attr.UserName, value: Buffer.from(r.pick(['alice', 'bob', 'alice\0', 'ålice', 'al\0ice', 'a'.repeat(253)])) },
    { type: Attr.UserPassword, value: Buffer.from(r.pick(['alice-password', 'wrong', '', 'x'.repeat(128), 'y'.repeat(16), 'z'.repeat(32), '123456'])) },
  ];
  const extra = r.int(6);
  if (extra === 1) attributes.push({ type: Attr.State, value: Buffer.concat([Buffer.from('rotp'), r.bytes(16)]) });
  if (extra === 2) for (let i = 0, n = 1 + r.int(8); i < n; i++) attributes.push({ type: Attr.ProxyState, value: r.bytes(1 + r.int(253)) });
  if (extra === 3) attributes.push({ type: Attr.VendorSpecific, value: r.bytes(1 + r.int(40)) });
  if (extra === 4) attributes.push({ type: Attr.NasIdentifier, value: Buffer.from('nas-1') }, { type: Attr.CallingStationId, value: Buffer.from('00-11') });
  if (extra === 5) attributes.push({ type: Attr.EapMessage, value: r.bytes(1 + r.int(50)) });
  const code = r.int(5) === 0 ? Code.StatusServer : Code.AccessRequest;
  return encodeRequest({ code, identifier: identifier++ & 0xff, secret: Buffer.from(secret), attributes, messageAuthenticator: r.int(3) !== 0 });
}

/** One to four of: flip a bit, overwrite an octet, insert octets, delete octets, set the Length, set an attribute's Length, truncate, pad. */
function mutate(r: Rng, datagram: Buffer): Buffer {
  let d = Buffer.from(datagram);
  for (let i = 0, n = 1 + r.int(4); i < n; i++) {
    const at = r.int(d.length + 1);
    const kind = r.int(8);
    if (kind === 0 && at < d.length) d[at]! ^= 1 << r.int(8);
    else if (kind === 1 && at < d.length) d[at] = r.int(256);
    else if (kind === 2) d = Buffer.concat([d.subarray(0, at), r.bytes(1 + r.int(8)), d.subarray(at)]);
    else if (kind === 3) d = Buffer.concat([d.subarray(0, at), d.subarray(at + 1 + r.int(8))]);
    else if (kind === 4 && d.length >= 4) d.writeUInt16BE(r.int(2) ? r.int(65536) : Math.min(65535, d.length + r.int(9) - 4), 2);
    else if (kind === 5 && d.length > 21) d[(20 + r.int(d.length - 21)) | 1] = r.pick([0, 1, 2, 255]); // an attribute's Length, often
    else if (kind === 6) d = d.subarray(0, at);
    else if (kind === 7) d = Buffer.concat([d, r.int(2) ? Buffer.alloc(r.int(5000)) : r.bytes(r.int(200))]);
  }
  return d;
}

let t: TestServer;
let serve: ServeProcess;
let ports: { v4: number; v6: number; http: number };

beforeAll(async () => {
  t = await startTestServer({
    clients: [
      { name: 'strict', address: '127.0.0.1', secret: SECRETS['127.0.0.1'], requireMessageAuthenticator: true, loginStyle: 'challenge' },
      { name: 'lax', address: '127.0.0.2', secret: SECRETS['127.0.0.2'], requireMessageAuthenticator: false, loginStyle: 'append' },
      { name: 'otp', address: '127.0.0.3', secret: SECRETS['127.0.0.3'], requireMessageAuthenticator: false, loginStyle: 'otp-only' },
      { name: 'six', address: '::1', secret: SECRETS['::1'], requireMessageAuthenticator: true, loginStyle: 'challenge' },
    ],
    users: [{ username: 'alice', password: 'alice-password' }],
  });
  const dir = fs.mkdtempSync(path.join(t.dir, 'serve-'));
  const { file } = testConfig(dir, t.cfg.database.url!, {
    keyFile: t.cfg.keyFilePath,
    // the fuzz sends alice hundreds of wrong passwords: her lockout (test/e2e/password-lockout.test.ts) is not what is measured
    auth: { lockout: { maxFailures: 1000 } },
    log: { level: 'info' },
  });
  serve = ServeProcess.start(file);
  await serve.serving();
  const serving = JSON.parse(serve.output.split('\n').find((l) => l.includes('"radotp serving"'))!) as {
    radius: { address: string; port: number }[];
    http: { port: number };
  };
  ports = { v4: serving.radius.find((a) => !a.address.includes(':'))!.port, v6: serving.radius.find((a) => a.address.includes(':'))!.port, http: serving.http.port };
}, 120_000);
afterAll(async () => {
  if (serve) expect(await serve.terminate()).toEqual({ code: 0, signal: null, output: '' });
  await t?.close();
});

async function metrics(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text();
  return new Map(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
}

/** Datagrams the server has finished with: replied, answered from the duplicate cache, dropped, or decided without an answer. */
function settled(m: Map<string, number>): number {
  let n = 0;
  for (const [name, value] of m) {
    if (name.startsWith('radotp_dropped_total{') || name.startsWith('radotp_requests_total{') || name === 'radotp_duplicates_answered_total') n += value;
    // fail/overload is counted as a drop too (radius-handler.ts)
    if (name.startsWith('radotp_decisions_total{result="no-answer"') || (name.startsWith('radotp_decisions_total{result="fail"') && !name.includes('reason="overload"'))) n += value;
  }
  return n;
}

function kernelReceiveErrors(): number {
  const [names, values] = fs.readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('RcvbufErrors')]);
}

function rssKb(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${serve.child.pid}/status`, 'utf8'))![1]);
}

/** A NAS (or the stranger) on its own address: sends, and checks every reply against what it sent. */
class Sender {
  readonly sent = new Map<number, Buffer[]>();
  readonly replies: Buffer[] = [];
  readonly problems: string[] = [];
  private constructor(
    readonly host: string,
    readonly socket: dgram.Socket,
  ) {
    socket.on('message', (reply) => this.check(reply));
  }

  static async open(host: string): Promise<Sender> {
    const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    return new Sender(host, socket);
  }

  send(datagram: Buffer): void {
    if (datagram.length >= 2) this.sent.set(datagram[1]!, [...(this.sent.get(datagram[1]!) ?? []), datagram]);
    this.socket.send(datagram, this.host === '::1' ? ports.v6 : ports.v4, this.host === '::1' ? '::1' : '127.0.0.1');
  }

  private check(reply: Buffer): void {
    this.replies.push(reply);
    const secret = Buffer.from(SECRETS[this.host]!);
    const request = (this.sent.get(reply[1]!) ?? []).find((r) => verifyResponse(reply, r.subarray(4, 20), secret));
    if (this.host === STRANGER) this.problems.push(`a reply to an address that is no client: ${reply.toString('hex')}`);
    else if (request === undefined) this.problems.push(`a reply to no request sent: ${reply.toString('hex')}`);
    else if (reply.length !== reply.readUInt16BE(2)) this.problems.push(`a reply with octets past its Length: ${reply.toString('hex')}`);
    else if (reply[0] === Code.AccessAccept && request[0] === Code.AccessRequest) {
      const packet = decodePacket(request);
      const attribute = (type: number) => (packet.ok ? packet.packet.attributes.find((a) => a.type === type)?.value : undefined);
      const hidden = attribute(Attr.UserPassword);
      const password = hidden && decryptUserPassword(hidden, secret, request.subarray(4, 20));
      const name = attribute(Attr.UserName)?.toString('latin1').replace(/\0+$/, '');
      if (name !== 'alice' || password?.toString() !== 'alice-password') this.problems.push(`accepted: ${request.toString('hex')}`);
    }
  }
}

async function login(): Promise<number | undefined> {
  const nas = await Sender.open('127.0.0.1');
  try {
    const secret = Buffer.from(SECRETS['127.0.0.1']!);
    const attributes = [
      { type: Attr.UserName, value: Buffer.from('alice') },
      { type: Attr.UserPassword, value: Buffer.from('alice-password') },
    ];
    nas.send(encodeRequest({ code: Code.AccessRequest, identifier: 1, secret, attributes }));
    for (let i = 0; i < 200 && nas.replies.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(nas.problems).toEqual([]);
    return nas.replies[0]?.[0];
  } finally {
    nas.socket.close();
  }
}

test(`seed ${SEED}: ${WAVES * WAVE} mutated requests from clients and a stranger: each answered or dropped and counted, the server unharmed`, async () => {
  const r = rng(SEED);
  expect(await login()).toBe(Code.AccessAccept);
  const rssBefore = rssKb();
  const senders = await Promise.all(['127.0.0.1', '127.0.0.2', '127.0.0.3', '::1', STRANGER].map((host) => Sender.open(host)));
  const problems: string[] = [];
  try {
    let m = await metrics();
    for (let wave = 0; wave < WAVES && problems.length === 0; wave++) {
      const [settledBefore, strangersBefore, kernelBefore] = [settled(m), m.get('radotp_dropped_total{reason="unknown_client"}') ?? 0, kernelReceiveErrors()];
      let fromStranger = 0;
      for (const s of senders) s.sent.clear();
      for (let i = 0; i < WAVE; i++) {
        const s = r.pick(senders);
        const datagram = valid(r, SECRETS[s.host]!);
        s.send(r.int(10) === 0 ? datagram : mutate(r, datagram));
        if (s.host === STRANGER) fromStranger++;
      }
      for (let i = 0; i < 400 && settled(m) < settledBefore + WAVE; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        m = await metrics();
      }
      // a datagram the kernel dropped for want of buffer (a busy machine) never reached radotp to be counted
      const lost = kernelReceiveErrors() - kernelBefore;
      const unsettled = settledBefore + WAVE - settled(m);
      if (unsettled > lost) problems.push(`wave ${wave}: ${unsettled} of ${WAVE} datagrams neither answered nor counted`);
      const strangers = (m.get('radotp_dropped_total{reason="unknown_client"}') ?? 0) - strangersBefore;
      if (strangers + lost < fromStranger) problems.push(`wave ${wave}: ${fromStranger} datagrams from the stranger, ${strangers} counted as unknown_client`);
      for (const s of senders) problems.push(...s.problems.splice(0));
    }
  } finally {
    for (const s of senders) s.socket.close();
  }
  expect(problems).toEqual([]);
  expect(await login()).toBe(Code.AccessAccept);
  // the duplicate cache, bounded, is most of what grows (a 4,000-packet run: about 35 MB)
  expect(rssKb() - rssBefore).toBeLessThan(150_000);
  const leaks = serve.output.split('\n').filter((line) => ['alice-password', ...Object.values(SECRETS)].some((s) => line.includes(s)));
  expect(leaks).toEqual([]);
}, 300_000);
