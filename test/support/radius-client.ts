import dgram from 'node:dgram';
import { encodeRequest, verifyResponse } from '../../src/radius/codec';
import { Attr, Code, type RawAttribute } from '../../src/radius/types';

export interface Answer {
  code: number;
  attributes: readonly RawAttribute[];
  raw: Buffer;
  ms: number;
}

let nextId = 0;

/** A minimal RADIUS client for tests: sends one datagram and waits for the answer (or times out with null). */
export async function sendRaw(datagram: Buffer, opts: { port: number; host?: string; timeoutMs?: number }): Promise<Buffer | null> {
  const host = opts.host ?? '127.0.0.1';
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    return await new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), opts.timeoutMs ?? 1500);
      sock.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      sock.on('error', () => resolve(null));
      sock.send(datagram, opts.port, host);
    });
  } finally {
    sock.close();
  }
}

export function accessRequest(opts: {
  username?: string;
  password?: string | Buffer;
  state?: Buffer;
  secret: string;
  messageAuthenticator?: boolean;
  extra?: RawAttribute[];
  code?: number;
}): { datagram: Buffer; authenticator: Buffer } {
  const attributes: RawAttribute[] = [];
  if (opts.username !== undefined) attributes.push({ type: Attr.UserName, value: Buffer.from(opts.username) });
  if (opts.password !== undefined) attributes.push({ type: Attr.UserPassword, value: Buffer.from(opts.password) });
  if (opts.state) attributes.push({ type: Attr.State, value: opts.state });
  attributes.push(...(opts.extra ?? []));
  const datagram = encodeRequest({
    code: opts.code ?? Code.AccessRequest,
    identifier: nextId++ & 0xff,
    secret: Buffer.from(opts.secret),
    attributes,
    messageAuthenticator: opts.messageAuthenticator ?? true,
  });
  return { datagram, authenticator: datagram.subarray(4, 20) };
}

/** Sends an Access-Request and returns the verified answer, or null when none came. */
export async function authenticate(
  port: number,
  opts: Parameters<typeof accessRequest>[0] & { host?: string; timeoutMs?: number },
): Promise<Answer | null> {
  const { datagram, authenticator } = accessRequest(opts);
  const started = process.hrtime.bigint();
  const raw = await sendRaw(datagram, { port, host: opts.host, timeoutMs: opts.timeoutMs });
  if (!raw) return null;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (!verifyResponse(raw, authenticator, Buffer.from(opts.secret))) throw new Error('response failed verification');
  const code = raw[0];
  // decodePacket only accepts requests; walk the attributes of the response directly
  const attributes: RawAttribute[] = [];
  for (let i = 20; i < raw.readUInt16BE(2); ) {
    attributes.push({ type: raw[i], value: raw.subarray(i + 2, i + raw[i + 1]) });
    i += raw[i + 1];
  }
  return { code, attributes, raw, ms };
}

export function attr(answer: Answer, type: number): Buffer | undefined {
  return answer.attributes.find((a) => a.type === type)?.value;
}
