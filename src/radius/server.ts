/**
 * The UDP front door: datagrams in, signed replies out. Everything in between is somebody else's
 * job (codec, client table, duplicate cache, the auth handler); this file decides the *order*:
 *
 *   decode -> client by source address -> authenticator check -> Status-Server? -> attribute
 *   counts -> duplicate? -> room for the reply? -> overload? -> User-Password -> handler -> reply
 *   (+ Proxy-State) -> duplicate cache
 *
 * A datagram that does not decode is dropped as from an unknown client when its source is none (see
 * #dropMalformed): the client lookup comes second only because most datagrams decode.
 *
 * The authenticator check comes before the duplicate cache on purpose: only packets proven to come
 * from the client (or, for clients not required to send Message-Authenticator, at least addressed
 * with its identity) ever create cache entries, so a forged packet cannot plant an "in progress"
 * entry that would make the NAS's genuine request be dropped, or a cached reply that would be sent
 * for it.
 *
 * Every failure is a silent, counted drop. RFC 2865 §3: a request from an unknown client or one
 * failing validation "MUST be silently discarded"; answering with Access-Reject would hand an
 * attacker an oracle and a reflector.
 */
import dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP, isIPv6 } from 'node:net';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { MAX_PACKET_LENGTH, PacketTooLargeError, checkAccessRequestAttributes, decodePacket, encodeResponse, verifyRequest } from './codec';
import { HEADER_LENGTH, MESSAGE_AUTHENTICATOR_LENGTH } from './message-authenticator';
import { decryptUserPassword, isTypedText } from './password';
import type { ClientTable } from './client-table';
import { evictOldest } from '../collections/evict-oldest';
import { DuplicateCache, duplicateKey } from './duplicate-cache';
import type { DuplicateTicket } from './duplicate-cache';
import { RateLimitedLog } from './rate-limited-log';
import { Attr, Code } from './types';
import type { ClientEntry, DropReason, IncomingRequest, Packet, RawAttribute, Reply, RequestHandler } from './types';

export const DEFAULT_MAX_PENDING = 1024;
export const DEFAULT_STOP_GRACE_MS = 5_000;
const SEND_FLUSH_TIMEOUT_MS = 1_000;
const SEND_FLUSH_POLL_MS = 5;
export const DEFAULT_ADDRESS_RESCAN_MS = 2_000;
/**
 * Source addresses remembered as signing (ClientEntry.learnMessageAuthenticator). Only a request with a valid
 * Message-Authenticator adds one, so only a holder of a shared secret can fill it; evicted, an address is held to
 * it again after its next signed request: forgetting never drops anyone's logins.
 */
const MAX_LEARNED_SIGNERS = 65_536;

/** The host's own addresses of a family; IPv6 link-local ones with their zone ("fe80::1%eth0"), as bind needs it. */
export function hostAddresses(family: 4 | 6): string[] {
  const out: string[] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== (family === 4 ? 'IPv4' : 'IPv6')) continue;
      out.push(family === 6 && a.scopeid ? `${a.address}%${name}` : a.address);
    }
  }
  return out;
}

const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::';
const familyOf = (wildcard: string): 4 | 6 => (wildcard === '::' ? 6 : 4);

/**
 * Replies go to the address a request came from, always an IP literal. node:dgram resolves every
 * destination through `lookup`; the default (dns.lookup) answers a literal on the next tick, one
 * deferred callback per reply. This one answers a literal at once and leaves names to dns.lookup.
 */
function lookupLiteral(
  address: string,
  options: number | LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const literal = isIP(address);
  if (literal !== 0) return callback(null, address, literal);
  dnsLookup(address, typeof options === 'number' ? { family: options } : options, callback);
}

function hasQueuedSends(socket: dgram.Socket): boolean {
  try {
    return socket.getSendQueueCount() > 0;
  } catch {
    return false; // already closed: nothing can be sent any more
  }
}

export interface ServerEvents {
  dropped?(reason: DropReason): void;
  /**
   * A fresh reply of code `code` was sent for a request of code `requestCode` (Access-Request, or
   * Status-Server answered with Access-Accept); `seconds` from the datagram's arrival to the reply
   * being handed to the socket.
   */
  replied?(code: number, seconds: number, requestCode: number): void;
  /** Every datagram that decoded as a RADIUS packet, before any trust decision. */
  received?(code: number): void;
  /** A retransmission answered from the duplicate cache with the reply already sent (RFC 5080 §2.2.2). */
  duplicateAnswered?(): void;
}

export interface ServerLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

export interface RadiusServerOptions<T> {
  /** UDP addresses to bind; IPv6 sockets are bound ipv6Only so "0.0.0.0" and "::" can coexist. */
  readonly listen: readonly { host: string; port: number }[];
  /** Looked up per packet, so the caller can swap in a new table when clients change. */
  readonly clients: () => ClientTable<T>;
  /** Called for verified Access-Requests only; `null` means "send nothing". */
  readonly handler: RequestHandler<T>;
  /** Access-Requests in the handler at once (default 1024); beyond that, drop 'overload'. */
  readonly maxPending?: number;
  readonly duplicateWindowMs?: number;
  readonly duplicateMaxEntries?: number;
  /** SO_RCVBUF/SO_SNDBUF in bytes; a burst larger than the receive buffer is lost by the kernel. */
  readonly socketBufferBytes?: number;
  readonly events?: ServerEvents;
  readonly logger?: ServerLogger;
  /**
   * Whether this server can decide logins now (its backend answers); Status-Server is answered only then.
   * Default: always.
   */
  readonly ready?: () => boolean;
  /** The host's addresses, that a wildcard listen address stands for (default: `hostAddresses`, from the interfaces). */
  readonly localAddresses?: (family: 4 | 6) => readonly string[];
  /** How often a wildcard listen address looks for addresses added since (a VIP moving in); default 2 s. */
  readonly addressRescanMs?: number;
  /**
   * The most octets the handler's own attributes can take in a reply (each with its 2-octet type and length).
   * A request whose echoed attributes (Proxy-State, and the Message-Authenticator its reply carries) leave less
   * room than that in 4096 octets is dropped as 'reply_too_large' before the handler runs: found after, the
   * decision was made (a code spent, an audit row) for a reply never sent. Default: found after.
   */
  readonly maxReplyAttributesLength?: number;
}

export interface ServerStats {
  /** Datagrams that decoded as RADIUS packets. */
  received: number;
  /** Fresh replies sent (Access-Request answers and Status-Server answers). */
  replied: number;
  /** Retransmissions answered from the duplicate cache with the earlier reply. */
  duplicatesAnswered: number;
  /** Handler results of `null`: nothing sent, so the NAS may retry or fail over. */
  unanswered: number;
  /** Access-Requests currently in the handler. */
  pending: number;
  readonly dropped: Record<DropReason, number>;
}

export interface BoundAddress {
  readonly address: string;
  readonly port: number;
}

type ServerState = 'idle' | 'running' | 'stopping' | 'stopped';

const DROP_REASONS: readonly DropReason[] = [
  'too_short',
  'too_long',
  'length_mismatch',
  'attribute_overrun',
  'attribute_too_short',
  'unsupported_code',
  'unknown_client',
  'missing_message_authenticator',
  'bad_message_authenticator',
  'bad_password_field',
  'password_not_text',
  'repeated_attribute',
  'pap_and_chap',
  'mixed_credentials',
  'duplicate_in_progress',
  'overload',
  'handler_fail',
  'reply_too_large',
  'not_ready',
  'shutting_down',
  'internal_error',
];

const NO_ATTRIBUTES: readonly RawAttribute[] = Object.freeze([]);

export class RadiusServer<T = unknown> {
  readonly stats: ServerStats;

  readonly #opts: RadiusServerOptions<T>;
  readonly #maxPending: number;
  readonly #duplicates: DuplicateCache;
  readonly #unknownClientLog = new RateLimitedLog();
  readonly #badPacketLog = new RateLimitedLog();
  readonly #failureLog = new RateLimitedLog();
  /** Client name and source address of NASes that sent a valid Message-Authenticator (see #learnSigner); oldest first. */
  readonly #signers = new Map<string, true>();
  readonly #sockets: dgram.Socket[] = [];
  /** Wildcard listen addresses and the host addresses bound for each, with their sockets (undefined while binding; see #bindWildcard). */
  readonly #wildcards: { host: string; port: number; bound: Map<string, dgram.Socket | undefined> }[] = [];
  #rescanTimer: NodeJS.Timeout | undefined;
  #state: ServerState = 'idle';
  #stopping: Promise<void> | undefined;
  #drained: (() => void) | undefined;

  constructor(opts: RadiusServerOptions<T>) {
    this.#opts = opts;
    this.#maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
    if (!Number.isInteger(this.#maxPending) || this.#maxPending < 1) throw new Error('maxPending must be an integer >= 1');
    this.#duplicates = new DuplicateCache({ windowMs: opts.duplicateWindowMs, maxEntries: opts.duplicateMaxEntries });
    const dropped = {} as Record<DropReason, number>;
    for (const reason of DROP_REASONS) dropped[reason] = 0;
    this.stats = { received: 0, replied: 0, duplicatesAnswered: 0, unanswered: 0, pending: 0, dropped };
  }

  /**
   * The receive buffer the kernel granted the sockets (the smallest, if they differ), in the bytes
   * socketBufferBytes asks for: Linux reports twice what it grants (socket(7), SO_RCVBUF). Undefined
   * before start.
   */
  receiveBufferBytes(): number | undefined {
    if (this.#sockets.length === 0) return undefined;
    const reported = Math.min(...this.#sockets.map((s) => s.getRecvBufferSize()));
    return process.platform === 'linux' ? reported / 2 : reported;
  }

  /** Binds every listen address; resolves with the ports actually bound (port 0 picks a free one). */
  async start(): Promise<BoundAddress[]> {
    if (this.#state !== 'idle') throw new Error(`RADIUS server cannot start: it is ${this.#state}`);
    this.#state = 'running';
    try {
      const bound: BoundAddress[] = [];
      for (const { host, port } of this.#opts.listen) {
        let socket: dgram.Socket;
        try {
          if (isWildcard(host)) {
            bound.push({ address: host, port: await this.#bindWildcard(host, port) });
            continue;
          }
          socket = await this.#bind(host, port);
        } catch (err) {
          // The default listens on "[::]" too; a host without IPv6 must still serve IPv4 rather than not start.
          const code = (err as NodeJS.ErrnoException).code;
          if (host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL') && this.#opts.listen.length > 1) {
            // `errno`, not `code`: the logger redacts every `code` (OTP codes)
            this.#opts.logger?.warn({ host, port, errno: code }, 'IPv6 is not available here; listening on the other addresses only');
            continue;
          }
          throw err;
        }
        const info: AddressInfo = socket.address();
        bound.push({ address: info.address, port: info.port });
      }
      if (bound.length === 0) throw new Error('no listen address could be bound');
      if (this.#wildcards.length > 0) {
        this.#rescanTimer = setInterval(() => this.#rescan(), this.#opts.addressRescanMs ?? DEFAULT_ADDRESS_RESCAN_MS);
        this.#rescanTimer.unref();
      }
      this.#opts.logger?.info({ listen: bound }, 'RADIUS server listening');
      return bound;
    } catch (err) {
      this.#state = 'stopped';
      await this.#closeSockets();
      throw err;
    }
  }

  /**
   * Stops taking packets (they are dropped as 'shutting_down'), gives requests already in the
   * handler up to `graceMs` to finish and send their replies, then closes the sockets.
   */
  stop(graceMs: number = DEFAULT_STOP_GRACE_MS): Promise<void> {
    // Every caller waits for the same shutdown; a second call must not cut the first one's grace short.
    this.#stopping ??= this.#shutDown(graceMs);
    return this.#stopping;
  }

  async #shutDown(graceMs: number): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    clearInterval(this.#rescanTimer);
    if (wasRunning && this.stats.pending > 0) await this.#waitForDrain(graceMs);
    this.#state = 'stopped';
    await this.#closeSockets();
    this.#duplicates.clear();
  }

  /**
   * A wildcard listen address ("0.0.0.0", "::") is bound as one socket per address of the host, never
   * as the wildcard itself. Node's sockets cannot learn which local address a datagram was sent to
   * (no IP_PKTINFO), so a wildcard socket's reply leaves from whatever address the kernel picks for
   * the route back, not necessarily the one the NAS sent to (a VIP, a second address); a NAS takes a
   * reply only from the address it sent the request to (RFC 2865 §3: the NAS matches the reply to its
   * request by the server it sent it to; radclient: "Received reply to request we did not send").
   * Resolves with the port (port 0: the one the OS picked for the first address, used for the others).
   */
  async #bindWildcard(host: string, port: number): Promise<number> {
    const family = familyOf(host);
    const addresses = this.#hostAddressesFor(host);
    if (addresses.length === 0) {
      throw Object.assign(new Error(`no IPv${family} address on this host for ${host}`), { code: 'EADDRNOTAVAIL' });
    }
    const entry = { host, port, bound: new Map<string, dgram.Socket | undefined>() };
    for (const address of addresses) {
      if (entry.bound.has(address)) continue;
      let socket: dgram.Socket;
      try {
        socket = await this.#bind(address, entry.port);
      } catch (err) {
        // e.g. an IPv6 address still tentative (duplicate address detection) at boot: the rescan binds it later
        if ((err as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL') throw err;
        this.#logFailure('rescan', { address, errno: 'EADDRNOTAVAIL' }, 'cannot listen on a host address yet; trying again');
        continue;
      }
      entry.port = socket.address().port;
      entry.bound.set(address, socket);
    }
    if (entry.bound.size === 0) {
      throw Object.assign(new Error(`no IPv${family} address of this host could be bound for ${host}`), { code: 'EADDRNOTAVAIL' });
    }
    this.#wildcards.push(entry);
    this.#opts.logger?.debug?.({ host, port: entry.port, addresses: [...entry.bound] }, 'wildcard listen address bound per host address');
    return entry.port;
  }

  /** The host's addresses that the wildcard `host` stands for. */
  #hostAddressesFor(host: string): readonly string[] {
    return (this.#opts.localAddresses ?? hostAddresses)(familyOf(host));
  }

  /**
   * Binds the addresses the host gained since (a VIP that moved in); one that cannot be bound is tried again
   * next time. Lets go of those it lost: IPv6 temporary addresses (RFC 8981, a new one a day on the default
   * `[::]`), DHCP renumbering and VIPs moving away kept one socket (a file descriptor) per address the host
   * ever had, for good. No datagram reaches an address the host lacks, and one coming back is bound again.
   */
  #rescan(): void {
    for (const entry of this.#wildcards) {
      let addresses: readonly string[];
      try {
        addresses = this.#hostAddressesFor(entry.host);
      } catch {
        continue;
      }
      if (this.#state !== 'running') return;
      // an empty list is more likely a glitch than a host without a single address: keep what is bound
      const current = new Set(addresses);
      if (current.size > 0) {
        for (const [address, socket] of entry.bound) {
          if (current.has(address) || socket === undefined) continue;
          entry.bound.delete(address);
          this.#release(socket);
          this.#opts.logger?.info({ address, port: entry.port }, 'no longer listening on an address the host no longer has');
        }
      }
      for (const address of addresses) {
        if (entry.bound.has(address)) continue;
        entry.bound.set(address, undefined); // taken now, so the next round does not bind it twice
        this.#bind(address, entry.port).then(
          (socket) => {
            if (this.#state !== 'running') return this.#release(socket); // bound just as the server stopped
            entry.bound.set(address, socket);
            this.#opts.logger?.info({ address, port: entry.port }, 'listening on a new host address');
          },
          (err: NodeJS.ErrnoException) => {
            entry.bound.delete(address);
            this.#logFailure('rescan', { address, port: entry.port, errno: err.code, err: err.message }, 'cannot listen on a new host address');
          },
        );
      }
    }
  }

  async #bind(host: string, port: number): Promise<dgram.Socket> {
    const type = isIPv6(host) ? 'udp6' : 'udp4';
    const size = this.#opts.socketBufferBytes;
    const socket = dgram.createSocket({
      type,
      ipv6Only: type === 'udp6',
      lookup: lookupLiteral,
      ...(size !== undefined ? { recvBufferSize: size, sendBufferSize: size } : {}),
    });
    this.#sockets.push(socket);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(port, host, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      // not kept: a rescan retrying an address that cannot be bound must not pile up dead sockets
      this.#release(socket);
      throw err;
    }
    socket.on('error', (err) => this.#logFailure('socket', { err: err.message, host }, 'RADIUS socket error'));
    socket.on('message', (datagram, remote) => this.#onDatagram(socket, datagram, remote));
    return socket;
  }

  /**
   * Closes one socket and forgets it, unless the shutdown has taken it already (#closeSockets empties the
   * list): closing a dgram socket twice throws.
   */
  #release(socket: dgram.Socket): void {
    const at = this.#sockets.indexOf(socket);
    if (at === -1) return;
    this.#sockets.splice(at, 1);
    socket.close();
  }

  async #closeSockets(): Promise<void> {
    // A reply the kernel did not take at once waits in libuv's send queue; closing first would
    // silently discard it.
    const deadline = performance.now() + SEND_FLUSH_TIMEOUT_MS;
    while (this.#sockets.some(hasQueuedSends) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, SEND_FLUSH_POLL_MS));
    }
    const sockets = this.#sockets.splice(0);
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            try {
              socket.close(() => resolve());
            } catch {
              resolve(); // never bound, or already closed
            }
          }),
      ),
    );
  }

  /** Resolves when the last in-flight handler settles, or after `graceMs`, whichever is first. */
  async #waitForDrain(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#drained = resolve;
      timer = setTimeout(resolve, graceMs);
    });
    clearTimeout(timer);
    this.#drained = undefined;
  }

  #onDatagram(socket: dgram.Socket, datagram: Buffer, remote: dgram.RemoteInfo): void {
    const receivedAt = performance.now();
    try {
      if (this.#state !== 'running') return this.#drop('shutting_down');
      const decoded = decodePacket(datagram);
      if (!decoded.ok) return this.#dropMalformed(decoded.reason, remote);
      const packet = decoded.packet;
      this.stats.received++;
      this.#opts.events?.received?.(packet.code);
      if (packet.code !== Code.AccessRequest && packet.code !== Code.StatusServer) return this.#dropMalformed('unsupported_code', remote);

      // RFC 2865 §3: "A request from a client for which the RADIUS server does not have a shared
      // secret MUST be silently discarded."
      const client = this.#opts.clients().match(remote.address);
      if (client === undefined) return this.#dropUnknownClient(remote);

      // RFC 3579 §3.2: a packet whose Message-Authenticator does not match is silently discarded;
      // so is one without it where the client must send it (Blast-RADIUS, CVE-2024-3596).
      // Status-Server always needs it (RFC 5997 §3), and so does a request carrying EAP-Message
      // (RFC 3579 §3.2: without it such a request "SHOULD be silently discarded").
      // And a request with Proxy-State whose reply would go without it (if-requested): Blast-RADIUS's way in.
      // A client set to learn it requires it from an address that has sent one (FreeRADIUS's "auto").
      const signer = client.learnMessageAuthenticator === true ? signerKey(client, remote.address) : undefined;
      const learned = signer !== undefined && this.#signers.has(signer);
      const verdict = verifyRequest(packet, client.secret, {
        requireMessageAuthenticator: client.requireMessageAuthenticator || learned,
        replyOmitsMessageAuthenticator: client.replyMessageAuthenticator === 'if-requested',
      });
      if (verdict !== 'ok') return this.#dropBadPacket(verdict, remote, client);
      if (signer !== undefined && !learned) this.#learnSigner(signer, packet, client, remote);

      if (packet.code === Code.StatusServer) return this.#answerStatusServer(socket, packet, client, remote, receivedAt);
      // After the authenticator check, so that only the client's own malformed requests are
      // counted here (a forged one was counted above); cheap, so retransmissions are checked again.
      const content = checkAccessRequestAttributes(packet);
      if (content !== 'ok') return this.#dropBadPacket(content, remote, client);
      this.#acceptAccessRequest(socket, packet, client, remote, receivedAt);
    } catch (err) {
      // A bug must cost one packet, never the process; counted, so a dashboard shows it.
      this.#dropInternalError(err, 'unexpected error while handling a datagram; dropped');
    }
  }

  /**
   * Remembers a NAS that signed an Access-Request (its Message-Authenticator was verified by now), so that its
   * requests without one are dropped from then on. Not from Status-Server (RFC 5997 §3: "MUST be included") nor
   * from a request with EAP-Message (RFC 3579 §3.2): a NAS signs those whether or not it signs its PAP logins, and
   * learning from them would drop every PAP login of a NAS that cannot sign one. Per source address, not per client:
   * a client is a network, which may hold old NASes beside the one that learned to sign. Kept in memory, per node.
   */
  #learnSigner(signer: string, packet: Packet, client: ClientEntry<T>, remote: dgram.RemoteInfo): void {
    if (packet.code !== Code.AccessRequest) return;
    let signed = false;
    for (const attribute of packet.attributes) {
      if (attribute.type === Attr.EapMessage) return;
      if (attribute.type === Attr.MessageAuthenticator) signed = true;
    }
    if (!signed) return;
    evictOldest(this.#signers, MAX_LEARNED_SIGNERS);
    this.#signers.set(signer, true);
    this.#opts.logger?.info(
      { client: client.name, remote: remote.address },
      'the NAS sent a Message-Authenticator: its Access-Requests without one are dropped from now on (require-message-authenticator auto)',
    );
  }

  /**
   * RFC 5997 §3: Status-Server sent to an authentication port is answered with Access-Accept, with
   * a Message-Authenticator (encodeResponse adds it). It is answered right here, ahead of any
   * handler work, because its whole point is to tell the NAS whether this server is alive, even
   * while the handlers are saturated; it is idempotent, so it needs no duplicate detection.
   * While the backend is away (`ready` false) every login goes unanswered, so Status-Server does too:
   * a NAS that probes with it then marks this server dead and sends its users elsewhere.
   */
  #answerStatusServer(
    socket: dgram.Socket,
    packet: Packet,
    client: ClientEntry<T>,
    remote: dgram.RemoteInfo,
    receivedAt: number,
  ): void {
    if (this.#opts.ready && !this.#opts.ready()) return this.#drop('not_ready');
    const response = encodeResponse({
      code: Code.AccessAccept,
      identifier: packet.identifier,
      requestAuthenticator: packet.authenticator,
      secret: client.secret,
      attributes: proxyStatesOf(packet) ?? NO_ATTRIBUTES,
    });
    this.#send(socket, response, remote, packet.code, Code.AccessAccept, receivedAt);
  }

  #acceptAccessRequest(
    socket: dgram.Socket,
    packet: Packet,
    client: ClientEntry<T>,
    remote: dgram.RemoteInfo,
    receivedAt: number,
  ): void {
    const key = duplicateKey(remote.address, remote.port, packet.identifier, packet.authenticator);
    const earlier = this.#duplicates.lookup(key);
    if (earlier !== undefined) {
      if (earlier.state === 'in_progress') return this.#drop('duplicate_in_progress');
      if (earlier.state === 'dropped') return this.#drop(earlier.reason);
      // RFC 5080 §2.2.2: answer the retransmission with the reply already sent, byte for byte.
      this.stats.duplicatesAnswered++;
      this.#opts.events?.duplicateAnswered?.();
      this.#transmit(socket, earlier.reply, remote);
      return;
    }

    // RFC 2865 §3: a reply holds at most 4096 octets, and §5.33: Proxy-State "MUST be returned unmodified"
    // in it. A request that leaves too little room is refused before anything is decided for it. Deterministic
    // for this packet: remembered, so its retransmissions are dropped the same way.
    if (this.#replyMightNotFit(packet, client)) {
      this.#duplicates.completeDropped(this.#duplicates.begin(key), 'reply_too_large');
      this.#drop('reply_too_large');
      this.#logFailure(client.name, { client: client.name }, "the request's Proxy-State leaves too little room for a reply in 4096 octets; dropped undecided");
      return;
    }

    // Shed load before spending work on decryption; nothing is cached, so the NAS's retry gets a
    // fresh chance once the backlog clears.
    if (this.stats.pending >= this.#maxPending) return this.#drop('overload');

    let password: Buffer | undefined;
    const hidden = firstAttribute(packet, Attr.UserPassword);
    if (hidden !== undefined) {
      const clear = decryptUserPassword(hidden, client.secret, packet.authenticator);
      if (clear === null) {
        // Deterministic for this packet: remember it so retransmissions are dropped the same way.
        this.#duplicates.completeDropped(this.#duplicates.begin(key), 'bad_password_field');
        return this.#dropBadPacket('bad_password_field', remote, client);
      }
      // Without a Message-Authenticator nothing proved the secret: a password that is not text was hidden with
      // another one (a NAS set up with a mistyped secret). Answered, it was a wrong password counted toward the
      // user's lockout (auth.lockout), locking out everyone who tried that NAS; dropped, as a wrong
      // Message-Authenticator is (RFC 3579 §3.2), and the same for its retransmissions.
      if (!isTypedText(clear) && firstAttribute(packet, Attr.MessageAuthenticator) === undefined) {
        this.#duplicates.completeDropped(this.#duplicates.begin(key), 'password_not_text');
        return this.#dropBadPacket('password_not_text', remote, client);
      }
      password = clear;
    }

    const ticket = this.#duplicates.begin(key);
    const request: IncomingRequest<T> = password === undefined ? { packet, client, remote } : { packet, client, remote, password };
    this.stats.pending++;
    this.#runHandler(socket, request, ticket, receivedAt);
  }

  /**
   * Never throws: every outcome is a reply, a counted drop or a logged failure. A handler that decided
   * without waiting is answered at once; only a promise is waited for.
   */
  #runHandler(socket: dgram.Socket, request: IncomingRequest<T>, ticket: DuplicateTicket, receivedAt: number): void {
    let reply: Reply | null | Promise<Reply | null>;
    try {
      reply = this.#opts.handler(request);
    } catch (err) {
      return this.#handlerFailed(request, ticket, err);
    }
    if (reply instanceof Promise) {
      reply.then(
        (r) => this.#finish(socket, request, ticket, receivedAt, r),
        (err) => this.#handlerFailed(request, ticket, err),
      );
    } else this.#finish(socket, request, ticket, receivedAt, reply);
  }

  #handlerFailed(request: IncomingRequest<T>, ticket: DuplicateTicket, err: unknown): void {
    this.#duplicates.forget(ticket);
    this.#drop('handler_fail');
    this.#logFailure(request.client.name, { client: request.client.name, err: errorText(err) }, 'request handler failed; nothing sent');
    this.#settled();
  }

  #finish(socket: dgram.Socket, request: IncomingRequest<T>, ticket: DuplicateTicket, receivedAt: number, reply: Reply | null): void {
    try {
      this.#answer(socket, request, ticket, receivedAt, reply);
    } catch (err) {
      // Left "in progress", the entry had every retransmission dropped as duplicate_in_progress for the whole
      // window, uncounted. It ends as dropped instead: the handler decided (a code may be spent), so deciding
      // again is no better; its retransmissions are dropped and counted as this copy was. An entry that ended
      // already (the reply was kept, then sent) stays as it is: the retransmission gets that reply.
      if (this.#duplicates.completeDropped(ticket, 'internal_error')) this.#dropInternalError(err, 'unexpected error while answering a request; nothing sent');
      else this.#logFailure('internal', { err: errorText(err) }, 'unexpected error while answering a request');
    }
    this.#settled();
  }

  #answer(socket: dgram.Socket, request: IncomingRequest<T>, ticket: DuplicateTicket, receivedAt: number, reply: Reply | null): void {
    if (reply === null) {
      // e.g. the database is down: stay silent so the NAS retries (and forget the request, so
      // that retry is processed afresh) or fails over to another server.
      this.#duplicates.forget(ticket);
      this.stats.unanswered++;
      return;
    }
    if (this.#state === 'stopped') {
      this.#duplicates.forget(ticket);
      return this.#drop('shutting_down'); // grace period over, sockets closed
    }
    const response = this.#encodeReply(request, reply);
    if (typeof response === 'string') {
      this.#duplicates.forget(ticket);
      return this.#drop(response);
    }
    // Kept before it is sent: whatever fails after (a throwing event listener), a retransmission gets this reply.
    this.#duplicates.complete(ticket, response);
    this.#send(socket, response, request.remote, request.packet.code, reply.code, receivedAt);
  }

  /** Whether the largest reply the handler can make, with what the request has echoed, exceeds 4096 octets. */
  #replyMightNotFit(packet: Packet, client: ClientEntry<T>): boolean {
    const largest = this.#opts.maxReplyAttributesLength;
    if (largest === undefined) return false;
    let echoed = replyCarriesMessageAuthenticator(packet, client) ? 2 + MESSAGE_AUTHENTICATOR_LENGTH : 0; // RFC 3579 §3.2: type, length, HMAC-MD5
    for (const attribute of packet.attributes) if (attribute.type === Attr.ProxyState) echoed += 2 + attribute.value.length;
    return HEADER_LENGTH + echoed + largest > MAX_PACKET_LENGTH;
  }

  /** A request left the handler, one way or another. */
  #settled(): void {
    this.stats.pending--;
    if (this.stats.pending === 0) this.#drained?.();
  }

  /** The signed reply, or why it could not be built: too large for a packet, or the handler's attributes are invalid. */
  #encodeReply(request: IncomingRequest<T>, reply: Reply): Buffer | 'reply_too_large' | 'handler_fail' {
    // RFC 2865 §5.33: Proxy-State "MUST be returned unmodified in the Access-Accept, Access-Reject
    // or Access-Challenge"; several of them keep their order (RFC 2865 §5: "the order of Attributes
    // with the same Type MUST be preserved"). They go last, after the handler's own attributes.
    const proxyStates = proxyStatesOf(request.packet);
    const attributes = proxyStates === undefined ? reply.attributes : [...reply.attributes, ...proxyStates];
    try {
      return encodeResponse({
        code: reply.code,
        identifier: request.packet.identifier,
        requestAuthenticator: request.packet.authenticator,
        secret: request.client.secret,
        attributes,
        messageAuthenticator: replyCarriesMessageAuthenticator(request.packet, request.client),
      });
    } catch (err) {
      // Too large: RFC 2865 §3 "maximum length is 4096", typically Proxy-State near that size echoed
      // with the handler's attributes; it cannot be left out (§5.33: "MUST be returned unmodified").
      // Anything else is a handler bug (e.g. an attribute value over 253 octets). The field is
      // `packetCode`, not `code`: the logger redacts every `code` (OTP codes).
      const tooLarge = err instanceof PacketTooLargeError;
      this.#logFailure(
        request.client.name,
        { client: request.client.name, packetCode: reply.code, err: errorText(err) },
        tooLarge ? 'the reply would exceed 4096 octets; nothing sent' : 'could not encode the reply; nothing sent',
      );
      return tooLarge ? 'reply_too_large' : 'handler_fail';
    }
  }

  #send(
    socket: dgram.Socket,
    response: Buffer,
    remote: { address: string; port: number },
    requestCode: number,
    code: number,
    receivedAt: number,
  ): void {
    this.#transmit(socket, response, remote);
    this.stats.replied++;
    this.#opts.events?.replied?.(code, (performance.now() - receivedAt) / 1000, requestCode);
  }

  /**
   * No send callback: with one, node:dgram defers a call per datagram even when the kernel took it at
   * once (the usual case). A send that fails later is reported through the socket's 'error' event.
   */
  #transmit(socket: dgram.Socket, datagram: Buffer, remote: { address: string; port: number }): void {
    try {
      socket.send(datagram, remote.port, remote.address);
    } catch (err) {
      // e.g. the socket was closed
      this.#logFailure('send', { err: errorText(err) }, 'could not send a RADIUS reply');
    }
  }

  #drop(reason: DropReason): void {
    this.stats.dropped[reason]++;
    this.#opts.events?.dropped?.(reason);
  }

  /** Runs in a catch: counted even if the event listener throws too (which must not escape it). */
  #dropInternalError(err: unknown, msg: string): void {
    try {
      this.#drop('internal_error'); // counts before it calls the listener
    } catch {
      // counted in stats; the error being handled is the one worth logging
    }
    this.#logFailure('internal', { err: errorText(err) }, msg);
  }

  #dropUnknownClient(remote: dgram.RemoteInfo): void {
    this.#drop('unknown_client');
    const logger = this.#opts.logger;
    if (logger === undefined) return;
    const decision = this.#unknownClientLog.check(remote.address);
    if (decision.log) {
      logger.warn(
        { remote: remote.address, port: remote.port, suppressed: decision.suppressed },
        'datagram from an address that is not a configured RADIUS client; dropped',
      );
    }
  }

  /**
   * Malformed, or of a code this server does not take. RFC 2865 §3: "A request from a client for which the RADIUS
   * server does not have a shared secret MUST be silently discarded", whatever it holds. So from an address that is
   * no client it is counted and logged as unknown_client: counted by what was wrong with it, a scanner's junk on the
   * port raised the counters that tell a configured NAS sends broken packets (length_mismatch & co.), and the
   * unknown_client count missed it. From a client it is counted by what was wrong, and the log line names the client.
   */
  #dropMalformed(reason: DropReason, remote: dgram.RemoteInfo): void {
    const client = this.#opts.clients().match(remote.address);
    if (client === undefined) return this.#dropUnknownClient(remote);
    this.#dropBadPacket(reason, remote, client);
  }

  /** Malformed or unauthenticated: usually a wrong shared secret or a misconfigured NAS. */
  #dropBadPacket(reason: DropReason, remote: dgram.RemoteInfo, client: ClientEntry<T>): void {
    this.#drop(reason);
    const logger = this.#opts.logger;
    if (logger === undefined) return;
    const decision = this.#badPacketLog.check(remote.address);
    if (decision.log) {
      logger.warn(
        { reason, client: client.name, remote: remote.address, port: remote.port, suppressed: decision.suppressed },
        'RADIUS packet dropped',
      );
    }
  }

  #logFailure(key: string, fields: Record<string, unknown>, msg: string): void {
    const logger = this.#opts.logger;
    if (logger === undefined) return;
    const decision = this.#failureLog.check(key);
    if (decision.log) logger.warn({ ...fields, suppressed: decision.suppressed }, msg);
  }
}

/**
 * Whether the reply to `packet` carries a Message-Authenticator: always, unless the client's setting is
 * if-requested and the request has none. The request's, if any, was verified by then (verifyRequest drops a wrong one).
 */
function replyCarriesMessageAuthenticator(packet: Packet, client: ClientEntry<unknown>): boolean {
  return client.replyMessageAuthenticator !== 'if-requested' || firstAttribute(packet, Attr.MessageAuthenticator) !== undefined;
}

/** Key of #signers: a client's name (names are unique) and a source address, which cannot hold a newline. */
function signerKey(client: ClientEntry<unknown>, address: string): string {
  return `${client.name}\n${address}`;
}

function firstAttribute(packet: Packet, type: number): Buffer | undefined {
  for (const attribute of packet.attributes) if (attribute.type === type) return attribute.value;
  return undefined;
}

/** The request's Proxy-State attributes in wire order, or undefined when there are none (the usual case). */
function proxyStatesOf(packet: Packet): RawAttribute[] | undefined {
  let found: RawAttribute[] | undefined;
  for (const attribute of packet.attributes) {
    if (attribute.type === Attr.ProxyState) (found ??= []).push(attribute);
  }
  return found;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : typeof err;
}
