/**
 * Which configured RADIUS client (NAS) a datagram comes from, by source address.
 *
 * RFC 2865 §3: "A RADIUS server MUST use the source IP address of the RADIUS UDP packet to decide
 * which shared secret to use". Clients are configured by CIDR; when ranges overlap, the most
 * specific one (longest prefix) wins, so "10.0.0.0/8" can be overridden by "10.1.2.3/32".
 *
 * Called once per packet, so the lookup is precomputed: one hash map per distinct prefix length
 * (walked from longest to shortest), plus a bounded per-address result cache in front of it.
 */
import { evictOldest } from '../collections/evict-oldest';
import { isIPv4, isIPv6 } from 'node:net';
import type { ClientEntry } from './types';

export type IpFamily = 4 | 6;

/** A network in canonical form: IPv4 as an unsigned 32-bit number, IPv6 as a 128-bit bigint. */
export type Cidr =
  | { readonly family: 4; readonly network: number; readonly prefix: number }
  | { readonly family: 6; readonly network: bigint; readonly prefix: number };

export type CidrParseResult = { ok: true; cidr: Cidr } | { ok: false; error: string };

type IpValue = { family: 4; value: number } | { family: 6; value: bigint };

const IPV4_MAPPED_PREFIX = 0xffffn; // ::ffff:0:0/96 (RFC 4291 §2.5.5.2)
const ALL_ONES_128 = (1n << 128n) - 1n;
const DEFAULT_ADDRESS_CACHE_SIZE = 4096;

/**
 * Parse "10.0.0.0/8", "2001:db8::/32", "::ffff:10.0.0.0/104" or a bare address (meaning /32 or /128).
 * IPv4-mapped IPv6 networks (within ::ffff:0:0/96) are stored as the IPv4 network they denote.
 * Host bits set below the prefix ("10.1.2.3/8") are refused: that is almost always a typo.
 */
export function parseCidr(text: string): CidrParseResult {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  if (addressText.includes('%')) return { ok: false, error: `"${text}": zone ids are not allowed in a CIDR` };
  const ip = parseIpAddress(addressText);
  if (ip === undefined) return { ok: false, error: `"${text}": not an IPv4 or IPv6 address` };
  const maxPrefix = ip.family === 4 ? 32 : 128;
  let prefix = maxPrefix;
  if (slash !== -1) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) {
      return { ok: false, error: `"${text}": prefix length must be 0..${maxPrefix}` };
    }
    prefix = Number(prefixText);
  }
  if (ip.family === 4) {
    const network = maskV4(ip.value, prefix);
    if (network !== ip.value) return { ok: false, error: hostBitsError(text, formatV4(network), prefix) };
    return { ok: true, cidr: { family: 4, network, prefix } };
  }
  const network = ip.value & maskV6(prefix);
  if (network !== ip.value) return { ok: false, error: `"${text}": host bits are set below the /${prefix} prefix` };
  if (prefix >= 96 && network >> 32n === IPV4_MAPPED_PREFIX) {
    return { ok: true, cidr: { family: 4, network: Number(network & 0xffffffffn), prefix: prefix - 96 } };
  }
  return { ok: true, cidr: { family: 6, network, prefix } };
}

/**
 * Parse a textual IP address as a socket reports it. A zone id ("fe80::1%eth0") is ignored and an
 * IPv4-mapped IPv6 address ("::ffff:10.1.2.3", what a dual-stack socket reports) becomes IPv4.
 */
export function parseSourceAddress(address: string): IpValue | undefined {
  const percent = address.indexOf('%');
  const ip = parseIpAddress(percent === -1 ? address : address.slice(0, percent));
  if (ip !== undefined && ip.family === 6 && ip.value >> 32n === IPV4_MAPPED_PREFIX) {
    return { family: 4, value: Number(ip.value & 0xffffffffn) };
  }
  return ip;
}

interface PrefixBucket<K, T> {
  readonly prefix: number;
  readonly networks: Map<K, ClientEntry<T>>;
}

export class ClientTable<T = unknown> {
  readonly #entries: readonly ClientEntry<T>[];
  readonly #v4: PrefixBucket<number, T>[] = [];
  readonly #v6: PrefixBucket<bigint, T>[] = [];
  /** address text -> match (null = no client), oldest first; bounded because sources can be spoofed. */
  readonly #byAddress = new Map<string, ClientEntry<T> | null>();
  readonly #cacheSize: number;

  /** @throws Error naming the client when its CIDR is invalid or duplicates another client's. */
  constructor(entries: readonly ClientEntry<T>[], opts: { addressCacheSize?: number } = {}) {
    this.#entries = Object.freeze([...entries]);
    this.#cacheSize = Math.max(1, opts.addressCacheSize ?? DEFAULT_ADDRESS_CACHE_SIZE);
    const v4 = new Map<number, Map<number, ClientEntry<T>>>();
    const v6 = new Map<number, Map<bigint, ClientEntry<T>>>();
    for (const entry of this.#entries) {
      const parsed = parseCidr(entry.cidr);
      if (!parsed.ok) throw new Error(`client "${entry.name}": invalid cidr ${parsed.error}`);
      const { cidr } = parsed;
      const clash =
        cidr.family === 4 ? addNetwork(v4, cidr.prefix, cidr.network, entry) : addNetwork(v6, cidr.prefix, cidr.network, entry);
      if (clash !== undefined) {
        throw new Error(`client "${entry.name}": cidr ${entry.cidr} is the same network as client "${clash.name}"`);
      }
    }
    const longestFirst = (a: { prefix: number }, b: { prefix: number }) => b.prefix - a.prefix;
    for (const [prefix, networks] of v4) this.#v4.push({ prefix, networks });
    for (const [prefix, networks] of v6) this.#v6.push({ prefix, networks });
    this.#v4.sort(longestFirst);
    this.#v6.sort(longestFirst);
  }

  get entries(): readonly ClientEntry<T>[] {
    return this.#entries;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The client whose CIDR most specifically contains `address`, or undefined. Never throws. */
  match(address: string): ClientEntry<T> | undefined {
    const cached = this.#byAddress.get(address);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.#lookup(address);
    evictOldest(this.#byAddress, this.#cacheSize);
    this.#byAddress.set(address, found ?? null);
    return found;
  }

  #lookup(address: string): ClientEntry<T> | undefined {
    const ip = parseSourceAddress(address);
    if (ip === undefined) return undefined;
    if (ip.family === 4) {
      for (const bucket of this.#v4) {
        const hit = bucket.networks.get(maskV4(ip.value, bucket.prefix));
        if (hit !== undefined) return hit;
      }
      return undefined;
    }
    for (const bucket of this.#v6) {
      const hit = bucket.networks.get(ip.value & maskV6(bucket.prefix));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}

/** Registers `entry`; returns the client already registered for that exact network, if any. */
function addNetwork<K, T>(
  byPrefix: Map<number, Map<K, ClientEntry<T>>>,
  prefix: number,
  network: K,
  entry: ClientEntry<T>,
): ClientEntry<T> | undefined {
  let networks = byPrefix.get(prefix);
  if (networks === undefined) {
    networks = new Map();
    byPrefix.set(prefix, networks);
  }
  const existing = networks.get(network);
  if (existing === undefined) networks.set(network, entry);
  return existing;
}

function maskV4(value: number, prefix: number): number {
  if (prefix === 0) return 0;
  return (value & (0xffffffff << (32 - prefix))) >>> 0;
}

function maskV6(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL_ONES_128 << BigInt(128 - prefix)) & ALL_ONES_128;
}

function hostBitsError(text: string, network: string, prefix: number): string {
  return `"${text}": host bits are set below the /${prefix} prefix (did you mean ${network}/${prefix}?)`;
}

/**
 * An IPv4 network as PostgreSQL's cidr writes it ("192.0.2.10/32"), whatever form it was given in: the
 * IPv4-mapped "::ffff:192.0.2.10" denotes the same network (see parseCidr), and stored as typed it slipped
 * past the unique index beside "192.0.2.10", leaving two clients, two secrets, for one NAS.
 */
export function formatIpv4Cidr(cidr: { readonly network: number; readonly prefix: number }): string {
  return `${formatV4(cidr.network)}/${cidr.prefix}`;
}

function formatV4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

function parseIpAddress(text: string): IpValue | undefined {
  if (isIPv4(text)) return { family: 4, value: parseV4(text) };
  if (isIPv6(text)) return { family: 6, value: parseV6(text) };
  return undefined;
}

/** Only called on text node:net accepted as IPv4 (four decimal octets). */
function parseV4(text: string): number {
  const octets = text.split('.');
  return ((Number(octets[0]) << 24) | (Number(octets[1]) << 16) | (Number(octets[2]) << 8) | Number(octets[3])) >>> 0;
}

/** Only called on text node:net accepted as IPv6 (at most one "::", optional dotted IPv4 tail). */
function parseV6(text: string): bigint {
  const groupsOf = (part: string): number[] => {
    if (part === '') return [];
    const groups: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = parseV4(piece);
        groups.push(v4 >>> 16, v4 & 0xffff);
      } else {
        groups.push(parseInt(piece, 16));
      }
    }
    return groups;
  };
  const doubleColon = text.indexOf('::');
  let groups: number[];
  if (doubleColon === -1) {
    groups = groupsOf(text);
  } else {
    const head = groupsOf(text.slice(0, doubleColon));
    const tail = groupsOf(text.slice(doubleColon + 2));
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  let value = 0n;
  for (const group of groups) value = (value << 16n) | BigInt(group);
  return value;
}
