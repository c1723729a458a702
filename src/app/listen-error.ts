import { ConfigError } from '../config/load';
import type { ListenAddress } from '../radius/listen-address';

/** What each bind failure means for the operator who wrote the address. */
const WHY: Record<string, string> = {
  EADDRINUSE: 'the port is in use (another radotp or RADIUS server?)',
  EADDRNOTAVAIL: 'not an address of this host',
  EACCES: 'permission denied (a port below 1024 needs root or CAP_NET_BIND_SERVICE)',
};

/**
 * A listen address that cannot be bound is the config's mistake: the error names the file, the key
 * (`radius.listen.1`, `http.listen`) and the address, in one line, like every other config error. The
 * key is found by the address the system call reports; an error that matches no entry is left as it is.
 */
export function listenError(
  err: unknown,
  source: string | undefined,
  entries: readonly { key: string; address: ListenAddress }[],
): unknown {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (typeof e?.code !== 'string' || e.syscall === undefined) return err;
  const entry = entries.find(({ address }) => address.host === e.address && (e.port === undefined || address.port === e.port));
  if (!entry) return err;
  const { host, port } = entry.address;
  const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new ConfigError(`${source ? `${source}: ` : ''}${entry.key}: cannot listen on ${shown}: ${WHY[e.code] ?? e.message}`);
}
