import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { stopEmbeddedPostgres } from '../../src/store/embedded-postgres';
import { initCluster, startCluster } from '../../src/store/embedded/cluster';
import { embeddedPgBinaries } from '../../src/store/embedded/pg-binaries';
import { postgresRunAs } from '../../src/store/embedded/postgres-user';
import { isProcessAlive } from '../../src/store/embedded/process-liveness';
import { readPostmasterPid } from '../../src/store/embedded/postmaster-pid';
import { createTestDatabase } from '../support/test-database';

/*
 * acquire/release are about several processes sharing one server, so each "radotp process" here is a real child
 * Node process (loaded through scripts/ts-register.js) that acquires, reports, and releases on command.
 */

const ROOT = resolve(__dirname, '../..');
const RUNNER = `
const { acquireEmbeddedPostgres } = require(${JSON.stringify(join(ROOT, 'src/store/embedded-postgres.ts'))});
const pg = require('pg');
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
(async () => {
  const warn = (o, m) => process.stderr.write(JSON.stringify({ ...o, msg: m }) + '\\n');
  const handle = await acquireEmbeddedPostgres(process.argv[1], { logger: { info() {}, warn } });
  const client = new pg.Client(handle.url);
  await client.connect();
  const { rows } = await client.query("SELECT current_database() AS db, current_setting('port')::int AS port");
  await client.end();
  say({ acquired: true, db: rows[0].db, port: rows[0].port, url: handle.url });
  for await (const line of require('node:readline').createInterface({ input: process.stdin })) {
    if (line === 'release') { await handle.release(); say({ released: true }); process.exit(0); }
    if (line === 'exit') process.exit(0); // leave without release(): the exit hook must clean up
  }
})().catch((e) => { say({ error: String(e.message) }); process.exit(1); });
`;

/** Takes the embedded start lock at argv[1] as the embedded code does, says so, and holds it until killed. */
const LOCK_HOLDER = `
const { tryLockSync } = require(${JSON.stringify(join(ROOT, 'src/store/embedded/file-lock.ts'))});
if (!tryLockSync(process.argv[1])) process.exit(1);
process.stdout.write('locked\\n');
setInterval(() => {}, 60_000);
`;

interface RunnerMessage {
  acquired?: boolean;
  released?: boolean;
  db?: string;
  port?: number;
  url?: string;
  error?: string;
}

class Radotp {
  private readonly lines: AsyncIterator<string>;
  /** What it logged as warnings (and any other stderr). */
  stderr = '';
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
  }
  /** `as`: run it as that user (root only), as radotp run by an ordinary user or a service account. */
  static start(dataDir: string, as?: { uid: number; gid: number }): Radotp {
    const child = spawn(process.execPath, ['-r', join(ROOT, 'scripts/ts-register.js'), '-e', RUNNER, dataDir], { cwd: ROOT, ...as });
    children.add(child);
    return new Radotp(child);
  }
  async next(): Promise<RunnerMessage> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`runner exited without answering (code ${this.child.exitCode}): ${this.stderr}`);
    return JSON.parse(value) as RunnerMessage;
  }
  async acquired(): Promise<RunnerMessage> {
    const msg = await this.next();
    if (!msg.acquired) throw new Error(`runner failed: ${msg.error}`);
    return msg;
  }
  async release(): Promise<void> {
    this.child.stdin.write('release\n');
    expect(await this.next()).toEqual({ released: true });
    await this.exited();
  }
  exited(): Promise<number | null> {
    return this.child.exitCode !== null ? Promise.resolve(this.child.exitCode) : new Promise((r) => this.child.once('exit', (code) => r(code)));
  }
}

const children = new Set<ChildProcessWithoutNullStreams>();
const dataDirs: string[] = [];
/** Socket directories under /tmp that tests made or caused. */
const fallbackDirs: string[] = [];
let scratch: string;

function newDataDir(): string {
  const dir = join(scratch, `data-${dataDirs.length}`);
  dataDirs.push(dir);
  return dir;
}

/** Postmasters serving `pgdata`: the postmaster is the only postgres process whose command line keeps "-D <pgdata>". */
function postmastersOf(pgdata: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv[0]?.endsWith('/postgres') && argv[argv.indexOf('-D') + 1] === pgdata && isProcessAlive(Number(pid));
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function waitUntilGone(pid: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** The host of an embedded handle's URL: the socket directory, or 127.0.0.1. */
function hostOf(url: string): string {
  return decodeURIComponent(new URL(url).hostname);
}

/** The user the cluster runs as: 'postgres' when we are root. */
function clusterUid(): number {
  return postgresRunAs().uid ?? process.getuid!();
}

function expectPrivateDir(dir: string): void {
  const st = lstatSync(dir);
  expect(st.isDirectory()).toBe(true);
  expect(st.mode & 0o777).toBe(0o700);
  expect(st.uid).toBe(clusterUid());
}

/** Resolves once something accepts a TCP connection on 127.0.0.1:port; rejects with ECONNREFUSED otherwise. */
function tcpConnect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve()));
    socket.once('error', reject);
  });
}

/** `p`'s value, or 'still waiting after N s' (a hang shows as a failed expectation, not a test timeout). */
function withinSeconds<T>(seconds: number, p: Promise<T>): Promise<T | string> {
  return Promise.race([p, new Promise<string>((r) => setTimeout(() => r(`still waiting after ${seconds} s`), seconds * 1000).unref())]);
}

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'radotp-embedded-test-'));
  chmodSync(scratch, 0o755); // as root, postgres runs as the 'postgres' user and must enter it
});

afterAll(async () => {
  // Only runners of a failed test are still alive here.
  await Promise.all(
    [...children].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r).kill('SIGKILL'))),
  );
  for (const dir of dataDirs) await stopEmbeddedPostgres(dir).catch(() => undefined);
  for (const dir of fallbackDirs) rmSync(dir, { recursive: true, force: true });
  // An initdb orphaned by a killed runner may still be writing for a moment.
  rmSync(scratch, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe('acquireEmbeddedPostgres', () => {
  test('first use creates the cluster and database; a second process shares it; the last to leave stops it', async () => {
    const dataDir = newDataDir();
    const pgdata = join(dataDir, 'postgres');
    const first = Radotp.start(dataDir);
    const a = await first.acquired();
    expect(a.db).toBe('radotp');
    // Through the Unix socket in <dataDir>/postgres.sock, the port naming the socket file.
    expect(hostOf(a.url!)).toBe(join(dataDir, 'postgres.sock'));
    expect(existsSync(join(dataDir, 'postgres.sock', `.s.PGSQL.${a.port}`))).toBe(true);
    expect(readFileSync(join(dataDir, 'postgres.port'), 'utf8').trim()).toBe(String(a.port));

    const second = Radotp.start(dataDir);
    const b = await second.acquired();
    expect(b.port).toBe(a.port);
    expect(b.url).toBe(a.url);
    expect(postmastersOf(pgdata)).toHaveLength(1);
    const postmaster = readPostmasterPid(pgdata)!.pid;

    // The password is private to the radotp user and never reaches the server log.
    expect(statSync(join(dataDir, 'postgres.password')).mode & 0o777).toBe(0o600);
    const password = readFileSync(join(dataDir, 'postgres.password'), 'utf8').trim();
    expect(password.length).toBeGreaterThanOrEqual(24);
    expect(readFileSync(join(dataDir, 'postgres.log'), 'utf8')).not.toContain(password);
    // Only the socket, in a directory no other local user can enter; and even there, no login without the password.
    expectPrivateDir(join(dataDir, 'postgres.sock'));
    await expect(tcpConnect(a.port!)).rejects.toThrow(/ECONNREFUSED/);
    await expect(query(a.url!.replace(/:[^:@]+@/, ':wrong@'), 'SELECT 1')).rejects.toThrow(/password authentication failed/);

    await first.release();
    expect(isProcessAlive(postmaster)).toBe(true);
    expect(await query(b.url!, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);

    await second.release();
    expect(await waitUntilGone(postmaster, 1000)).toBe(true);
    expect(existsSync(join(pgdata, 'postmaster.pid'))).toBe(false);
    expect(readdirSync(join(dataDir, 'postgres.users'))).toEqual([]);

    // A restart reuses the cluster: same password, the database is still there.
    const again = Radotp.start(dataDir);
    expect((await again.acquired()).db).toBe('radotp');
    expect(readFileSync(join(dataDir, 'postgres.password'), 'utf8').trim()).toBe(password);
    await again.release();
    expect(postmastersOf(pgdata)).toEqual([]);
  });

  test('an orphan left by a SIGKILLed process is adopted, and stopped by its adopter', async () => {
    const dataDir = newDataDir();
    const pgdata = join(dataDir, 'postgres');
    const killed = Radotp.start(dataDir);
    const before = await killed.acquired();
    const orphan = readPostmasterPid(pgdata)!.pid;
    killed.child.kill('SIGKILL');
    await killed.exited();
    expect(isProcessAlive(orphan)).toBe(true);

    const adopter = Radotp.start(dataDir);
    const after = await adopter.acquired();
    expect(after.port).toBe(before.port);
    expect(postmastersOf(pgdata)).toEqual([orphan]);
    // The dead process's registration was pruned, so the adopter is the last user.
    expect(readdirSync(join(dataDir, 'postgres.users'))).toHaveLength(1);

    await adopter.release();
    expect(await waitUntilGone(orphan, 1000)).toBe(true);
  });

  test('three processes acquiring a fresh dataDir at once end with one postmaster', async () => {
    const dataDir = newDataDir();
    const pgdata = join(dataDir, 'postgres');
    const runners = [Radotp.start(dataDir), Radotp.start(dataDir), Radotp.start(dataDir)];
    const results = await Promise.all(runners.map((r) => r.acquired()));
    expect(new Set(results.map((r) => r.port)).size).toBe(1);
    expect(new Set(results.map((r) => r.url)).size).toBe(1);
    const postmasters = postmastersOf(pgdata);
    expect(postmasters).toHaveLength(1);

    await Promise.all(runners.map((r) => r.release()));
    expect(await waitUntilGone(postmasters[0]!, 1000)).toBe(true);
    expect(postmastersOf(pgdata)).toEqual([]);
    expect(existsSync(join(dataDir, 'postgres.lock'))).toBe(false);
  });

  test('a process exiting without release() still stops the server it was last to use', async () => {
    const dataDir = newDataDir();
    const runner = Radotp.start(dataDir);
    await runner.acquired();
    const postmaster = readPostmasterPid(join(dataDir, 'postgres'))!.pid;
    runner.child.stdin.write('exit\n');
    expect(await runner.exited()).toBe(0);
    expect(await waitUntilGone(postmaster, 5000)).toBe(true);
  });

  test('stopEmbeddedPostgres stops the server even while it is in use', async () => {
    const dataDir = newDataDir();
    const runner = Radotp.start(dataDir);
    await runner.acquired();
    const postmaster = readPostmasterPid(join(dataDir, 'postgres'))!.pid;
    expect(await stopEmbeddedPostgres(dataDir)).toBe(true);
    expect(isProcessAlive(postmaster)).toBe(false);
    expect(await stopEmbeddedPostgres(dataDir)).toBe(false);
    await runner.release(); // nothing left to stop; must not fail
  });

  // As root, postgres runs as the 'postgres' user; a dataDir it cannot enter (a checkout under /root)
  // must still work: the cluster is kept under /var/lib/radotp and <dataDir>/postgres.location says where.
  // (Not root: postgres runs as ourselves and reaches any dataDir we can, so there is nothing to relocate.)
  test('a dataDir the postgres user cannot enter keeps its cluster under /var/lib/radotp when root', async () => {
    const locked = join(scratch, 'locked');
    mkdirSync(locked, { mode: 0o700 });
    const dataDir = join(locked, 'data');
    const runner = Radotp.start(dataDir);
    const msg = await runner.next();
    expect(msg.error).toBeUndefined();
    expect(msg.db).toBe('radotp');
    const locationFile = join(dataDir, 'postgres.location');
    if (process.getuid?.() !== 0) {
      expect(existsSync(locationFile)).toBe(false);
      await runner.release();
      return;
    }
    const cluster = readFileSync(locationFile, 'utf8').trim();
    try {
      expect(cluster.startsWith('/var/lib/radotp/embedded-')).toBe(true);
      expect(existsSync(join(cluster, 'PG_VERSION'))).toBe(true);
      // Its socket sits next to it: the postgres user writes there, and root (radotp) enters.
      expect(hostOf(msg.url!)).toBe(`${cluster}.sock`);
      expectPrivateDir(`${cluster}.sock`);
      await runner.release();
      // the last one out stopped it, and a second start finds the same cluster again
      expect(existsSync(join(cluster, 'postmaster.pid'))).toBe(false);
      const again = Radotp.start(dataDir);
      expect((await again.next()).db).toBe('radotp');
      await again.release();
    } finally {
      rmSync(dirname(cluster), { recursive: true, force: true });
    }
  });
});

describe('as root, on the data of radotp run by an ordinary user', () => {
  // `sudo radotp user add …` in the folder of an admin who runs radotp as herself, or on the dataDir of a service
  // account: the cluster there runs as its owner, not as 'postgres'. Root used to keep a new, empty cluster under
  // /var/lib/radotp when 'postgres' could not enter the owner's 0700 dataDir, overwriting the owner's
  // postgres.password (her cluster could no longer be opened) and leaving a postgres.location she cannot read;
  // with the owner's server stopped and a dataDir 'postgres' could enter, it failed with "could not access the
  // server configuration file … Permission denied".
  const NOBODY = { uid: 65534, gid: 65534 };
  /** A home folder (0755) of the user playing the service account, and the dataDir to be made in it (cleaned up after). */
  const nobodysHome = (name: string): { home: string; dataDir: string } => {
    const home = join(scratch, `${name}-${dataDirs.length}`);
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, NOBODY.uid, NOBODY.gid);
    const dataDir = join(home, 'data');
    dataDirs.push(dataDir);
    return { home, dataDir };
  };
  test.each([['while its server runs'], ['while it is stopped']])('%s: root uses that cluster, run as its owner', async (when) => {
    if (process.getuid?.() !== 0) return; // only root can be another user
    const { dataDir } = nobodysHome('owned');
    const digest = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
    fallbackDirs.push(`/var/lib/radotp/embedded-${digest}`); // where root used to put a cluster of its own

    const owner = Radotp.start(dataDir, NOBODY);
    const first = await owner.acquired();
    await query(first.url!, 'CREATE TABLE theirs (x int); INSERT INTO theirs VALUES (7)');
    if (when === 'while it is stopped') await owner.release();
    const password = readFileSync(join(dataDir, 'postgres.password'), 'utf8');

    const root = Radotp.start(dataDir);
    const msg = await root.acquired();
    expect(await query(msg.url!, 'SELECT x FROM theirs')).toEqual([{ x: 7 }]);
    const pgdata = join(dataDir, 'postgres');
    expect(statSync(`/proc/${readPostmasterPid(pgdata)!.pid}`).uid).toBe(NOBODY.uid);
    expect(readFileSync(join(dataDir, 'postgres.password'), 'utf8')).toBe(password);
    expect(existsSync(join(dataDir, 'postgres.location'))).toBe(false);
    if (when === 'while its server runs') {
      // the owner leaving first (a service restarted during an admin's command) leaves it up for root
      await owner.release();
      expect(await query(msg.url!, 'SELECT x FROM theirs')).toEqual([{ x: 7 }]);
    }
    await root.release();

    // and the owner carries on with it afterwards
    const later = Radotp.start(dataDir, NOBODY);
    expect(await query((await later.acquired()).url!, 'SELECT x FROM theirs')).toEqual([{ x: 7 }]);
    await later.release();
    expect(root.stderr + later.stderr).toBe('');
  });

  // postgres.location is written by root only, when the user PostgreSQL runs as cannot enter dataDir, and always
  // names /var/lib/radotp/embedded-<12 hex>/postgres. In another user's dataDir they can write it: root trusted it,
  // deleted "<it>.initializing" recursively and made a cluster wherever it led. Anything else there is refused,
  // naming the file, and nothing is made or removed.
  test.each([['a folder of their choosing', (victim: string) => victim], ['a look-alike outside /var/lib/radotp', (victim: string) => `${victim}/var/lib/radotp/embedded-0123456789ab/postgres`]])(
    'root does not follow a postgres.location the owner wrote: %s',
    async (_name, location) => {
      if (process.getuid?.() !== 0) return;
      const { dataDir } = nobodysHome('forged');
      mkdirSync(dataDir, { mode: 0o700 });
      chownSync(dataDir, NOBODY.uid, NOBODY.gid);
      const victim = join(scratch, `victim-dir-${dataDirs.length}`);
      mkdirSync(`${location(victim)}.initializing`, { recursive: true });
      writeFileSync(join(`${location(victim)}.initializing`, 'keep'), 'root data\n');
      writeFileSync(join(dataDir, 'postgres.location'), `${location(victim)}\n`);
      chownSync(join(dataDir, 'postgres.location'), NOBODY.uid, NOBODY.gid);

      const root = Radotp.start(dataDir);
      const msg = await root.next();
      expect(msg.error).toContain(join(dataDir, 'postgres.location'));
      expect(readFileSync(join(`${location(victim)}.initializing`, 'keep'), 'utf8')).toBe('root data\n');
      expect(existsSync(location(victim))).toBe(false);
    },
  );

  // The dataDir is its owner's: they can replace any file in it with a symlink. Root, starting their stopped
  // cluster, wrote postgres.port through it (over /etc/shadow, say) and opened postgres.log through it for the
  // server's output, which the owner's postmaster then wrote: lines of the owner's choosing appended to a file
  // root trusts. Root now refuses, naming the file, and writes nothing.
  // A FIFO there instead: root's open for writing waited for a reader for ever, hanging the admin's command.
  test.each([
    ['postgres.port', 'symlink'],
    ['postgres.log', 'symlink'],
    ['postgres.port', 'fifo'],
    ['postgres.log', 'fifo'],
  ] as const)('root does not write through what the owner made of %s: a %s', async (name, plant) => {
    if (process.getuid?.() !== 0) return;
    const { dataDir } = nobodysHome('symlinked');
    const owner = Radotp.start(dataDir, NOBODY);
    await owner.acquired();
    await owner.release();
    const victim = join(scratch, `victim-${dataDirs.length}`);
    writeFileSync(victim, 'root:secret\n', { mode: 0o600 });
    rmSync(join(dataDir, name));
    if (plant === 'symlink') symlinkSync(victim, join(dataDir, name));
    else expect(spawnSync('mkfifo', ['-m', '0600', join(dataDir, name)]).status).toBe(0);

    const root = Radotp.start(dataDir);
    const msg = await root.next();
    expect(readFileSync(victim, 'utf8')).toBe('root:secret\n');
    expect(msg.error).toContain(join(dataDir, name));
    expect(postmastersOf(join(dataDir, 'postgres'))).toEqual([]);
  });

  // <dataDir>/postgres is the owner's to replace. A symlink there to another cluster (the system's
  // /var/lib/postgresql/15/main, another user's radotp data): root looked through it for PG_VERSION and its owner,
  // and started that cluster as that cluster's owner with radotp's settings (its postmaster.opts then names this
  // dataDir). Root now refuses, in one line naming the folder, and starts nothing.
  test('root does not run a cluster through a symlink the owner made of <dataDir>/postgres', async () => {
    if (process.getuid?.() !== 0) return;
    const other = newDataDir(); // root's own dataDir: its cluster belongs to the 'postgres' user
    const theirs = Radotp.start(other);
    await theirs.acquired();
    await theirs.release();
    const otherOpts = readFileSync(join(other, 'postgres', 'postmaster.opts'), 'utf8');
    const { dataDir } = nobodysHome('symlinked-cluster');
    mkdirSync(dataDir, { mode: 0o711 }); // 'postgres' may enter it: root has no reason to keep a cluster elsewhere
    chownSync(dataDir, NOBODY.uid, NOBODY.gid);
    symlinkSync(join(other, 'postgres'), join(dataDir, 'postgres'));
    writeFileSync(join(dataDir, 'postgres.password'), 'guess\n', { mode: 0o600 });
    chownSync(join(dataDir, 'postgres.password'), NOBODY.uid, NOBODY.gid);

    const root = Radotp.start(dataDir);
    const msg = await withinSeconds(30, root.next());
    const error = typeof msg === 'string' ? msg : msg.error;
    expect(error).toContain(`${join(dataDir, 'postgres')} is a symbolic link`);
    expect(readFileSync(join(other, 'postgres', 'postmaster.opts'), 'utf8')).toBe(otherOpts);
    expect(postmastersOf(join(dataDir, 'postgres'))).toEqual([]);
  });

  // postgres.users is a folder in the owner's dataDir: they can make it a symlink to a folder of root's (/etc/cron.d,
  // /etc/sudoers.d). Root created its registration there, given to them (theirs to fill), and pruned files named
  // like registrations there. Refused now, naming the folder; nothing is made in the folder it leads to.
  test('root does not register through a symlink the owner made of postgres.users', async () => {
    if (process.getuid?.() !== 0) return;
    const { dataDir } = nobodysHome('symlinked-users');
    const owner = Radotp.start(dataDir, NOBODY);
    await owner.acquired();
    await owner.release();
    const victim = join(scratch, `victim-dir-${dataDirs.length}`);
    mkdirSync(victim, { mode: 0o700 });
    rmSync(join(dataDir, 'postgres.users'), { recursive: true });
    symlinkSync(victim, join(dataDir, 'postgres.users'));

    const root = Radotp.start(dataDir);
    const msg = await withinSeconds(30, root.next());
    const error = typeof msg === 'string' ? msg : msg.error;
    expect(error).toContain(`${join(dataDir, 'postgres.users')} is a symbolic link`);
    expect(readdirSync(victim)).toEqual([]);
    expect(postmastersOf(join(dataDir, 'postgres'))).toEqual([]);
  });

  // A postgres.initializing left in the owner's dataDir (a start that died during initdb) is emptied before initdb
  // runs again. Root did that itself, recursively, by path: the owner could swap a folder in it for a symlink to
  // /etc between root's lstat and its readdir, and root deleted what was there. It is removed with the owner's own
  // rights now, so nothing they could not delete themselves goes: here a folder of root's left inside it.
  test("root empties a postgres.initializing left in the owner's dataDir only as far as the owner could", async () => {
    if (process.getuid?.() !== 0) return;
    const { dataDir } = nobodysHome('initializing');
    mkdirSync(dataDir, { mode: 0o711 });
    chownSync(dataDir, NOBODY.uid, NOBODY.gid);
    const initializing = join(dataDir, 'postgres.initializing');
    mkdirSync(initializing, { mode: 0o700 });
    chownSync(initializing, NOBODY.uid, NOBODY.gid);
    mkdirSync(join(initializing, 'roots'), { mode: 0o755 });
    writeFileSync(join(initializing, 'roots', 'file'), 'root data\n');

    const root = Radotp.start(dataDir);
    const msg = await withinSeconds(30, root.next());
    const error = typeof msg === 'string' ? msg : msg.error;
    expect(error).toContain(`cannot remove ${initializing}`);
    expect(readFileSync(join(initializing, 'roots', 'file'), 'utf8')).toBe('root data\n');

    // What is the owner's there (all that a dead start of theirs or of root's leaves) goes, and the cluster is made.
    rmSync(join(initializing, 'roots'), { recursive: true });
    writeFileSync(join(initializing, 'PG_VERSION'), '15\n');
    chownSync(join(initializing, 'PG_VERSION'), NOBODY.uid, NOBODY.gid);
    const again = Radotp.start(dataDir);
    await again.acquired();
    expect(statSync(join(dataDir, 'postgres')).uid).toBe(NOBODY.uid);
    expect(existsSync(initializing)).toBe(false);
    await again.release();
  });

  // The owner's running server is theirs to misdescribe: they can rewrite the socket folder and port in its
  // postmaster.pid (the PID stays their server's) to lead root's connection to another server's socket (the
  // system PostgreSQL's, which may trust local connections). Root connected there as the superuser with the
  // owner's password. It connects only to a socket of the user its server runs as now, and says why otherwise.
  test("root does not connect where the owner's postmaster.pid misleads it", async () => {
    if (process.getuid?.() !== 0) return;
    const other = newDataDir();
    const theirs = Radotp.start(other);
    const target = await theirs.acquired();
    const { dataDir } = nobodysHome('misled');
    const owner = Radotp.start(dataDir, NOBODY);
    await owner.acquired();
    const pidFile = join(dataDir, 'postgres', 'postmaster.pid');
    const lines = readFileSync(pidFile, 'utf8').split('\n');
    lines[3] = String(target.port);
    lines[4] = hostOf(target.url!);
    writeFileSync(pidFile, lines.join('\n'));

    const root = Radotp.start(dataDir);
    const msg = await withinSeconds(30, root.next());
    const error = typeof msg === 'string' ? msg : msg.error;
    expect(error).toContain(`${hostOf(target.url!)}/.s.PGSQL.${target.port}, which is not its server's`);
    await owner.release();
    await theirs.release();
  });

  // postmaster.pid is in the owner's cluster folder: they can write any PID there, the system PostgreSQL's say.
  // Root took that for its server (alive, named postgres), and stopped it (SIGINT, then SIGQUIT) when its command
  // failed or left. A postmaster is the server of a cluster only if its working directory is that cluster's
  // folder (PostgreSQL changes to it at start); any other is no server of ours and is never signalled.
  test("root does not stop a process a forged postmaster.pid in the owner's cluster names", async () => {
    if (process.getuid?.() !== 0) return;
    const other = newDataDir();
    const theirs = Radotp.start(other);
    await theirs.acquired(); // left running: the process the owner wants root to stop
    const victim = readPostmasterPid(join(other, 'postgres'))!;
    const { dataDir } = nobodysHome('forged-pid');
    const owner = Radotp.start(dataDir, NOBODY);
    await owner.acquired();
    await owner.release();
    const forged = readFileSync(join(other, 'postgres', 'postmaster.pid'), 'utf8');
    writeFileSync(join(dataDir, 'postgres', 'postmaster.pid'), forged);

    // Root starts the owner's own cluster (the PID in its postmaster.pid is no server of that folder) and stops it.
    const root = Radotp.start(dataDir);
    expect(await withinSeconds(30, root.next())).toMatchObject({ acquired: true });
    await root.release();
    expect(isProcessAlive(victim.pid)).toBe(true);
    expect(postmastersOf(join(other, 'postgres'))).toEqual([victim.pid]);
    await theirs.release();
  });

  // Root READ postgres.password, postgres.port, postgres.location, postgres.lock and the cluster's postmaster.pid
  // through whatever the owner put there. postgres.password a symlink to /etc/shadow (or to a key only root may
  // read): root read it and sent it as the password to the server postmaster.pid names, which the owner controls
  // (a fake PostgreSQL asking for the password in clear gets it); postgres.location's content went into root's
  // error message. A FIFO hung root's command for ever, a huge file was read whole into memory, and a hard link
  // to a file of root's (where protected_hardlinks is off) is that file. Each is refused now, in one line naming
  // the file and what is wrong with it, before anything is read from it; no server is left running.
  describe('root does not read what the owner made of its files', () => {
    const fifoIn = (dataDir: string): string => {
      const fifo = join(dataDir, 'a-fifo');
      expect(spawnSync('mkfifo', ['-m', '0666', fifo]).status).toBe(0);
      chownSync(fifo, NOBODY.uid, NOBODY.gid);
      return fifo;
    };
    type Plant = (file: string, ctx: { dataDir: string; victim: string }) => void;
    const symlinkTo: (target: 'victim' | 'fifo') => Plant = (target) => (file, { dataDir, victim }) =>
      symlinkSync(target === 'victim' ? victim : fifoIn(dataDir), file);
    const fifo: Plant = (file) => {
      expect(spawnSync('mkfifo', ['-m', '0600', file]).status).toBe(0);
      chownSync(file, NOBODY.uid, NOBODY.gid);
    };
    const huge: Plant = (file) => {
      writeFileSync(file, '');
      truncateSync(file, 2 * 1024 * 1024);
      chownSync(file, NOBODY.uid, NOBODY.gid);
    };
    const rootsHardLink: Plant = (file, { victim }) => linkSync(victim, file);
    test.each([
      ['postgres.password', 'a symlink to a file of root\'s', symlinkTo('victim'), /postgres\.password is a symbolic link/],
      ['postgres.password', 'a FIFO', fifo, /postgres\.password is a FIFO, not a regular file/],
      ['postgres.password', 'a symlink to a FIFO', symlinkTo('fifo'), /postgres\.password is a symbolic link/],
      ['postgres.password', '2 MiB long', huge, /postgres\.password holds more than \d+ bytes/],
      ['postgres.password', 'a hard link to a file of root\'s', rootsHardLink, /postgres\.password is root's and has 2 hard links/],
      ['postgres.port', '2 MiB long', huge, /postgres\.port holds more than \d+ bytes/],
      ['postgres.location', 'a symlink to a file of root\'s', symlinkTo('victim'), /postgres\.location is a symbolic link/],
      ['postgres.lock', 'a symlink to a FIFO', symlinkTo('fifo'), /postgres\.lock is a symbolic link/],
      ['postgres.lock', 'a FIFO', fifo, /postgres\.lock is a FIFO, not a regular file/],
      ['postgres/postmaster.pid', 'a symlink to a FIFO', symlinkTo('fifo'), /postmaster\.pid is a symbolic link/],
    ] as const)('%s: %s', async (name, _what, plant, problem) => {
      if (process.getuid?.() !== 0) return;
      const { dataDir } = nobodysHome('read');
      const owner = Radotp.start(dataDir, NOBODY);
      await owner.acquired();
      await owner.release();
      const victim = join(scratch, `victim-${dataDirs.length}`);
      writeFileSync(victim, 'root:secret\n', { mode: 0o600 });
      const file = join(dataDir, name);
      rmSync(file, { force: true });
      plant(file, { dataDir, victim });

      const root = Radotp.start(dataDir);
      const msg = await withinSeconds(20, root.next());
      const error = typeof msg === 'string' ? msg : msg.error;
      expect(error).toMatch(problem);
      expect(error).toContain(file);
      expect(error).not.toContain('secret');
      expect(error).not.toContain('password authentication failed'); // nothing was sent
      expect(postmastersOf(join(dataDir, 'postgres'))).toEqual([]);
    });

    // A registration is a file radotp makes for each process using the cluster; one the owner made a FIFO (or a
    // symlink to one) hung root's command. It names no live process: pruned as any dead one's is.
    test.each([['a FIFO', fifo], ['a symlink to a FIFO', symlinkTo('fifo')]] as const)('a registration in postgres.users that is %s is pruned', async (_what, plant) => {
      if (process.getuid?.() !== 0) return;
      const { dataDir } = nobodysHome('registration');
      const owner = Radotp.start(dataDir, NOBODY);
      await owner.acquired();
      await owner.release();
      const registration = join(dataDir, 'postgres.users', '1-deadbeef');
      plant(registration, { dataDir, victim: '/nonexistent' });

      // Read when root's command leaves (the last to leave stops the server) and when a server runs at its start.
      const root = Radotp.start(dataDir);
      await root.acquired();
      expect(await withinSeconds(20, root.release().then(() => 'released'))).toBe('released');
      expect(existsSync(registration)).toBe(false);
    });
  });

  // The owner's account gone since (userdel), or the data restored or copied by numeric ids (tar, a volume from
  // another host): the cluster's uid has no passwd entry. Root fell back to 'postgres', and, that user unable to
  // enter the 0700 dataDir, made a new empty cluster under /var/lib/radotp and overwrote postgres.password: the
  // users, tokens and audit trail there could no longer be opened. PostgreSQL needs no passwd entry to run.
  test('a cluster whose owner has no passwd entry: root runs it as that uid', async () => {
    if (process.getuid?.() !== 0) return;
    const ORPHAN = 4242;
    if (spawnSync('id', [String(ORPHAN)]).status === 0) return; // that uid must have no passwd entry here
    const { home, dataDir } = nobodysHome('orphaned');
    fallbackDirs.push(`/var/lib/radotp/embedded-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
    const owner = Radotp.start(dataDir, NOBODY);
    await query((await owner.acquired()).url!, 'CREATE TABLE theirs (x int); INSERT INTO theirs VALUES (7)');
    await owner.release();
    expect(spawnSync('chown', ['-R', `${ORPHAN}:${ORPHAN}`, home]).status).toBe(0);
    const password = readFileSync(join(dataDir, 'postgres.password'), 'utf8');

    const root = Radotp.start(dataDir);
    expect(await query((await root.acquired()).url!, 'SELECT x FROM theirs')).toEqual([{ x: 7 }]);
    expect(statSync(`/proc/${readPostmasterPid(join(dataDir, 'postgres'))!.pid}`).uid).toBe(ORPHAN);
    await root.release();
    expect(readFileSync(join(dataDir, 'postgres.password'), 'utf8')).toBe(password);
    expect(existsSync(join(dataDir, 'postgres.location'))).toBe(false);
    expect(root.stderr).toBe('');
  });
  // `sudo radotp …` killed with -9 while it held the start lock (0600, root's): the service account's processes could
  // not read who held it, so could not tell its holder was dead, and waited out the 120 s lock timeout.
  test("a start lock left by root killed with -9: the owner's next start takes it over at once", async () => {
    if (process.getuid?.() !== 0) return;
    const { dataDir } = nobodysHome('stale-lock');
    // The service has run before: its cluster exists, so the owner's start below is quick.
    const service = Radotp.start(dataDir, NOBODY);
    await service.acquired();
    await service.release();
    const lockFile = join(dataDir, 'postgres.lock');
    const holder = spawn(process.execPath, ['-r', join(ROOT, 'scripts/ts-register.js'), '-e', LOCK_HOLDER, lockFile], { cwd: ROOT });
    children.add(holder);
    expect((await createInterface({ input: holder.stdout })[Symbol.asyncIterator]().next()).value).toBe('locked');
    expect(existsSync(lockFile)).toBe(true);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));

    const t0 = Date.now();
    const owner = Radotp.start(dataDir, NOBODY);
    const waited = await Promise.race([owner.acquired().then(() => Date.now() - t0), new Promise<string>((r) => setTimeout(() => r('still waiting after 20 s'), 20_000).unref())]);
    expect(waited).toBeLessThan(10_000);
    await owner.release();
    expect(owner.stderr).toBe('');
  });
});

describe('where the embedded PostgreSQL listens', () => {
  /** A dataDir whose <dataDir>/postgres.sock/.s.PGSQL.<port> would not fit sun_path (108 bytes with its NUL). */
  function deepDataDir(): string {
    const dir = join(scratch, `${dataDirs.length}`.padEnd(Math.max(1, 100 - scratch.length), 'd'));
    dataDirs.push(dir);
    const fallback = `/tmp/radotp-pg-${createHash('sha256').update(join(dir, 'postgres')).digest('hex').slice(0, 16)}`;
    fallbackDirs.push(fallback);
    return dir;
  }

  test('a dataDir too deep for a socket path gets a private socket directory under /tmp', async () => {
    const dataDir = deepDataDir();
    const runner = Radotp.start(dataDir);
    const msg = await runner.acquired();
    const dir = hostOf(msg.url!);
    expect(dir).toBe(fallbackDirs.at(-1));
    expectPrivateDir(dir);
    expect(existsSync(join(dataDir, 'postgres.sock'))).toBe(false);
    await expect(tcpConnect(msg.port!)).rejects.toThrow(/ECONNREFUSED/);
    await runner.release();
    // The next start finds the same directory and uses it again.
    const again = Radotp.start(dataDir);
    expect(hostOf((await again.acquired()).url!)).toBe(dir);
    await again.release();
    expect(runner.stderr + again.stderr).toBe('');
  });

  test.each([
    ['a symlink', (dir: string) => symlinkSync(mkdtempSync(join(scratch, 'elsewhere-')), dir)],
    ['open to others', (dir: string) => (mkdirSync(dir), chmodSync(dir, 0o755), clusterUid() !== process.getuid!() && chownSync(dir, clusterUid(), -1))],
    ['owned by another user', (dir: string) => (mkdirSync(dir, { mode: 0o700 }), chownSync(dir, 65534, 65534))],
  ])('a fallback socket directory that is %s is not used: loopback TCP, and the log says why', async (what, make) => {
    if (what === 'owned by another user' && process.getuid?.() !== 0) return; // only root can give a directory away
    const dataDir = deepDataDir();
    make(fallbackDirs.at(-1)!);
    const runner = Radotp.start(dataDir);
    const msg = await runner.acquired();
    expect(hostOf(msg.url!)).toBe('127.0.0.1');
    await tcpConnect(msg.port!);
    expect(runner.stderr).toContain(fallbackDirs.at(-1));
    expect(runner.stderr).toContain('listens on 127.0.0.1');
    expect(runner.stderr).not.toContain(readFileSync(join(dataDir, 'postgres.password'), 'utf8').trim());
    await runner.release();
  });

  /** A dataDir as the release before sockets made it: a cluster set up for loopback TCP, its password and port. */
  async function oldTcpDataDir(): Promise<{ dataDir: string; pgdata: string; port: number; password: string }> {
    const dataDir = newDataDir();
    const pgdata = join(dataDir, 'postgres');
    const runAs = postgresRunAs();
    mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o711);
    const pwfile = join(dataDir, 'postgres.initpw');
    const password = 'old-release-password-0123456789';
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (runAs.uid !== undefined) {
      chownSync(pgdata, runAs.uid, runAs.gid!);
      chownSync(pwfile, runAs.uid, runAs.gid!);
    }
    const bin = embeddedPgBinaries();
    await initCluster({
      bin,
      runAs,
      pgdata,
      auth: { method: 'scram-sha-256', passwordFile: pwfile },
      noSync: true,
      settings: { listen_addresses: '127.0.0.1', unix_socket_directories: '' },
    });
    rmSync(pwfile);
    writeFileSync(join(dataDir, 'postgres.password'), password, { mode: 0o600 });
    // Started the old way (postgresql.conf alone says where to listen), as a server of the old release left it.
    const running = await startCluster({ bin, runAs, pgdata, logFile: join(dataDir, 'postgres.log') });
    writeFileSync(join(dataDir, 'postgres.port'), `${running.port}\n`, { mode: 0o600 });
    return { dataDir, pgdata, port: running.port, password };
  }

  test('a cluster of the release before sockets: adopted on TCP while its old server runs, on the socket once restarted', async () => {
    const { dataDir, pgdata, port } = await oldTcpDataDir();
    const old = readPostmasterPid(pgdata)!;
    expect(old).toMatchObject({ socketDir: '', listenAddress: '127.0.0.1' });

    // An old radotp still serving on it during the upgrade: the new one follows it to TCP rather than fail.
    const during = Radotp.start(dataDir);
    const a = await during.acquired();
    expect(hostOf(a.url!)).toBe('127.0.0.1');
    expect(a.port).toBe(port);
    await query(a.url!, 'CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)');
    await during.release();
    expect(await waitUntilGone(old.pid, 5000)).toBe(true);

    // Started by the new release: postgresql.conf still says 127.0.0.1, but the command line wins.
    const after = Radotp.start(dataDir);
    const b = await after.acquired();
    expect(hostOf(b.url!)).toBe(join(dataDir, 'postgres.sock'));
    expect(b.port).toBe(port);
    expectPrivateDir(join(dataDir, 'postgres.sock'));
    await expect(tcpConnect(port)).rejects.toThrow(/ECONNREFUSED/);
    expect(await query(b.url!, 'SELECT x FROM kept')).toEqual([{ x: 42 }]);
    await expect(query(b.url!.replace(/:[^:@]+@/, ':wrong@'), 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    await after.release();
  });
});

describe('createTestDatabase', () => {
  test('gives each caller a fresh empty database, and drop() removes it even with clients connected', async () => {
    const [one, two] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    expect(one.url).not.toBe(two.url);
    await query(one.url, 'CREATE TABLE t (x int)');
    expect(await query(two.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 0 }]);

    const lingering = new pg.Client(one.url);
    lingering.on('error', () => undefined); // it is about to be disconnected
    await lingering.connect();
    await one.drop();
    await two.drop();
    await expect(query(one.url, 'SELECT 1')).rejects.toThrow(/does not exist/);
    await lingering.end().catch(() => undefined);
  });
});
