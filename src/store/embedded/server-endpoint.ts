import { lstatSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PostmasterInfo } from './postmaster-pid';

/*
 * Where postmaster.pid says its server listens is written in a file its owner can rewrite while the server runs
 * (the PID stays that server's, see cluster-folder.ts isServerOf). As root in a service account's dataDir, the
 * socket folder and port there led root's connection, as the superuser and with the owner's password, to another
 * server's socket (the system PostgreSQL's, which may trust local connections). A socket belongs to the user
 * whose process made it (bind(2) creates the socket file, and /proc/net/tcp lists a TCP listener's uid), so the
 * server's own endpoint is that user's: the endpoint is taken only when its socket is that of the user it runs as.
 */

/** Refuses (Error naming the socket) an endpoint in `info` whose listening socket is not of the user `info.pid` runs as. */
export function assertServersOwnEndpoint(info: PostmasterInfo, pgdata: string): void {
  let serverUid: number;
  try {
    serverUid = statSync(`/proc/${info.pid}`).uid;
  } catch {
    return; // no /proc (not Linux), or gone since: the connection fails on its own
  }
  const where = info.socketDir ? join(info.socketDir, `.s.PGSQL.${info.port}`) : `127.0.0.1:${info.port}`;
  const owner = info.socketDir ? unixSocketOwner(where) : tcpListenerOwner(info.port);
  if (owner !== serverUid) {
    const whose = owner === undefined ? 'no socket of a listening server' : `it belongs to uid ${owner}`;
    throw new Error(`${join(pgdata, 'postmaster.pid')} says its server (PID ${info.pid}, uid ${serverUid}) listens on ${where}, which is not its server's (${whose}); radotp does not connect there`);
  }
}

function unixSocketOwner(path: string): number | undefined {
  try {
    const st = lstatSync(path);
    return st.isSocket() ? st.uid : undefined;
  } catch {
    return undefined;
  }
}

/** The uid of the socket listening on 127.0.0.1:`port` (/proc/net/tcp: local_address, st 0A = LISTEN, uid). */
function tcpListenerOwner(port: number): number | undefined {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let text: string;
  try {
    text = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '0A') return Number(f[7]);
  }
  return undefined;
}
