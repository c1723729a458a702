/**
 * Parses a listen address as written in config or on the command line:
 * "0.0.0.0:1812", "127.0.0.1", "[::]:1812", "[::1]", or "::" (a bare IPv6 literal, no port).
 * Only IP literals are accepted: a RADIUS server binds to addresses, and resolving a name at start-up
 * would make the bound address depend on DNS.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const DEFAULT_AUTH_PORT = 1812; // RFC 2865 §3 (IANA "radius")

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export type ListenAddressResult = { ok: true; value: ListenAddress } | { ok: false; error: string };

export function parseListenAddress(text: string, defaultPort: number = DEFAULT_AUTH_PORT): ListenAddressResult {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']');
    if (close === -1) return fail(text, 'missing "]" after the IPv6 address');
    const host = trimmed.slice(1, close);
    if (!isIPv6(host)) return fail(text, `"${host}" is not an IPv6 address`);
    const rest = trimmed.slice(close + 1);
    if (rest === '') return { ok: true, value: { host, port: defaultPort } };
    if (!rest.startsWith(':')) return fail(text, 'expected ":port" after "]"');
    return withPort(text, host, rest.slice(1));
  }
  if (isIPv6(trimmed)) return { ok: true, value: { host: trimmed, port: defaultPort } };
  const colon = trimmed.lastIndexOf(':');
  const host = colon === -1 ? trimmed : trimmed.slice(0, colon);
  if (!isIPv4(host)) {
    return fail(text, host.includes(':') ? 'write IPv6 addresses with a port as "[addr]:port"' : `"${host}" is not an IP address`);
  }
  return colon === -1 ? { ok: true, value: { host, port: defaultPort } } : withPort(text, host, trimmed.slice(colon + 1));
}

/** Port 0 is allowed: it asks the OS for a free port (tests use it). */
function withPort(text: string, host: string, portText: string): ListenAddressResult {
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return fail(text, 'port must be 0..65535');
  return { ok: true, value: { host, port: Number(portText) } };
}

function fail(text: string, why: string): ListenAddressResult {
  return { ok: false, error: `invalid listen address "${text}": ${why}` };
}
