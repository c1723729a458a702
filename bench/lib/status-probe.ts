import { createHash, createHmac, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';

const STATUS_SERVER = 12;
const ACCESS_ACCEPT = 2;
const MESSAGE_AUTHENTICATOR = 80;

/** A Status-Server packet (RFC 5997) with its Message-Authenticator, which RFC 5997 §3 requires. */
export function statusServerPacket(id: number, secret: string): { packet: Buffer; authenticator: Buffer } {
  const authenticator = randomBytes(16);
  const packet = Buffer.alloc(20 + 18);
  packet[0] = STATUS_SERVER;
  packet[1] = id & 0xff;
  packet.writeUInt16BE(packet.length, 2);
  authenticator.copy(packet, 4);
  packet[20] = MESSAGE_AUTHENTICATOR;
  packet[21] = 18;
  createHmac('md5', secret).update(packet).digest().copy(packet, 22);
  return { packet, authenticator };
}

function responseOk(reply: Buffer, id: number, requestAuthenticator: Buffer, secret: string): boolean {
  if (reply.length < 20 || reply[0] !== ACCESS_ACCEPT || reply[1] !== (id & 0xff)) return false;
  const length = reply.readUInt16BE(2);
  if (length > reply.length) return false;
  const expected = createHash('md5')
    .update(reply.subarray(0, 4))
    .update(requestAuthenticator)
    .update(reply.subarray(20, length))
    .update(secret)
    .digest();
  return expected.equals(reply.subarray(4, 20));
}

/** One Status-Server round trip; resolves with the RTT in ms, or null on timeout. */
export async function statusServerProbe(o: { port: number; secret: string; host?: string; timeoutMs?: number }): Promise<number | null> {
  const sock = dgram.createSocket('udp4');
  try {
    return await new Promise<number | null>((resolve) => {
      const id = Math.floor(Math.random() * 256);
      const { packet, authenticator } = statusServerPacket(id, o.secret);
      const timer = setTimeout(() => resolve(null), o.timeoutMs ?? 1000);
      let t0 = 0n;
      sock.on('message', (msg) => {
        if (!responseOk(msg, id, authenticator, o.secret)) return;
        clearTimeout(timer);
        resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      });
      sock.on('error', () => {
        clearTimeout(timer);
        resolve(null);
      });
      t0 = process.hrtime.bigint();
      sock.send(packet, o.port, o.host ?? '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

export interface ProbeSeries {
  sent: number;
  answered: number;
  lost: number;
  rttsMs: number[];
}

/**
 * Sends a Status-Server every `intervalMs` from one socket until stop() is called; each one has
 * `timeoutMs` to be answered, else it counts as lost.
 */
export function startStatusServerSeries(o: { port: number; secret: string; host?: string; intervalMs?: number; timeoutMs?: number }) {
  const sock = dgram.createSocket('udp4');
  const series: ProbeSeries = { sent: 0, answered: 0, lost: 0, rttsMs: [] };
  const outstanding = new Map<number, { t0: bigint; authenticator: Buffer; timer: NodeJS.Timeout }>();
  let nextId = 0;
  sock.on('message', (msg) => {
    const id = msg[1];
    const o2 = outstanding.get(id);
    if (!o2 || !responseOk(msg, id, o2.authenticator, o.secret)) return;
    clearTimeout(o2.timer);
    outstanding.delete(id);
    series.answered++;
    series.rttsMs.push(Number(process.hrtime.bigint() - o2.t0) / 1e6);
  });
  sock.on('error', () => {});
  const send = () => {
    const id = nextId++ & 0xff;
    if (outstanding.has(id)) return; // 256 outstanding: should not happen at these rates
    const { packet, authenticator } = statusServerPacket(id, o.secret);
    const timer = setTimeout(() => {
      outstanding.delete(id);
      series.lost++;
    }, o.timeoutMs ?? 2000);
    outstanding.set(id, { t0: process.hrtime.bigint(), authenticator, timer });
    series.sent++;
    sock.send(packet, o.port, o.host ?? '127.0.0.1');
  };
  const interval = setInterval(send, o.intervalMs ?? 100);
  return {
    series,
    /** Stops sending, waits for the last ones to be answered or time out. */
    async stop(): Promise<ProbeSeries> {
      clearInterval(interval);
      const deadline = Date.now() + (o.timeoutMs ?? 2000) + 100;
      while (outstanding.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const v of outstanding.values()) {
        clearTimeout(v.timer);
        series.lost++;
      }
      outstanding.clear();
      sock.close();
      return series;
    },
  };
}
