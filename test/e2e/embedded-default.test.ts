import fs from 'node:fs';
import path from 'node:path';
import { readPostmasterPid } from '../../src/store/embedded/postmaster-pid';
import { runCli } from '../support/cli';
import { radclient, radclientUntilAccepted } from '../support/radclient';
import { freePort, isRunning, processesMentioning, ServeProcess, waitFor } from '../support/serve-process';

/*
 * The zero-setup path: no database URL anywhere, so `radotp serve` runs PostgreSQL itself under dataDir, and
 * CLI commands run meanwhile share that PostgreSQL instead of starting their own. Everything is a real process.
 */

const SECRET = 'embedded-default-secret-5b0c2e';
const PASSWORD = 'embedded default password';
describe('embedded PostgreSQL by default (no database URL configured)', () => {
  let home: string;
  let configFile: string;
  let pgdata: string;
  let radiusPort: number;
  let serve: ServeProcess | undefined;
  let postmasterPid: number;

  const radotp = (args: string[], stdin?: string) => runCli([...args, '--config', configFile], { stdin, timeoutMs: 90_000 });

  beforeAll(async () => {
    // Under /tmp and 0755: as root, PostgreSQL runs as `postgres`, which must be able to reach dataDir.
    home = fs.mkdtempSync('/tmp/radotp-embedded-default-');
    fs.chmodSync(home, 0o755);
    radiusPort = await freePort('udp');
    const httpPort = await freePort('tcp');
    configFile = path.join(home, 'radotp.yaml');
    fs.writeFileSync(
      configFile,
      [
        '# no database: section at all: the embedded PostgreSQL is the default',
        'radius:',
        `  listen: ["127.0.0.1:${radiusPort}"]`,
        '  clientRefresh: 0.2',
        'http:',
        `  listen: 127.0.0.1:${httpPort}`,
        'dataDir: ./data',
        'log:',
        '  level: info',
        '',
      ].join('\n'),
    );
    pgdata = path.join(home, 'data', 'postgres');
  });

  afterAll(async () => {
    // Only what this file started: the serve child, then a postmaster it may have left.
    if (serve && serve.child.exitCode === null && serve.child.signalCode === null) {
      serve.child.kill('SIGKILL');
      await serve.exited;
    }
    const left = readPostmasterPid(pgdata);
    if (left && isRunning(left.pid)) process.kill(left.pid, 'SIGQUIT');
    fs.rmSync(home, { recursive: true, force: true });
  });

  test('radotp serve starts its own PostgreSQL under dataDir', async () => {
    serve = ServeProcess.start(configFile);
    await serve.serving();
    const info = readPostmasterPid(pgdata);
    expect(info).toMatchObject({ status: 'ready' });
    expect(isRunning(info!.pid)).toBe(true);
    postmasterPid = info!.pid;
    // The ps check used after shutdown does see a running postmaster by its data directory.
    expect(processesMentioning(pgdata).join('\n')).toMatch(new RegExp(`^\\s*${postmasterPid}\\s`, 'm'));
    expect(fs.statSync(path.join(home, 'data', 'postgres.password')).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(home, 'data', 'master.key'))).toBe(true);
  }, 120_000);

  test('CLI commands run meanwhile use that PostgreSQL and leave it running', async () => {
    const logBefore = fs.readFileSync(path.join(home, 'data', 'postgres.log'), 'utf8');
    expect(logBefore).toMatch(/ready to accept connections/); // what a start looks like, checked absent below
    const add = await radotp(['client', 'add', 'local', '--address', '127.0.0.1', '--secret', SECRET]);
    expect(add).toEqual({ code: 0, stdout: 'client local added\n', stderr: '' });
    const user = await radotp(['user', 'add', 'alice', '--password-stdin'], `${PASSWORD}\n`);
    expect(user).toEqual({ code: 0, stdout: 'user alice added (method password)\n', stderr: '' });
    // Same postmaster before and after; no second server was started (each start logs "ready to accept").
    expect(readPostmasterPid(pgdata)?.pid).toBe(postmasterPid);
    expect(isRunning(postmasterPid)).toBe(true);
    const startedSince = fs.readFileSync(path.join(home, 'data', 'postgres.log'), 'utf8').slice(logBefore.length);
    expect(startedSince).not.toMatch(/ready to accept connections/);
  }, 120_000);

  test('radclient is accepted once the client table has refreshed', async () => {
    const pairs = `User-Name=alice,User-Password="${PASSWORD}",Message-Authenticator=0x00`;
    expect((await radclientUntilAccepted({ port: radiusPort, secret: SECRET, pairs })).reply).toBe('Access-Accept');
    const wrong = await radclient({ port: radiusPort, secret: SECRET, pairs: 'User-Name=alice,User-Password=wrong,Message-Authenticator=0x00' });
    expect(wrong.reply).toBe('Access-Reject');
  }, 60_000);

  test('its PostgreSQL killed: the server starts it again on the same port and answers logins again', async () => {
    const before = readPostmasterPid(pgdata)!;
    process.kill(before.pid, 'SIGKILL');
    await waitFor('the postmaster to be gone', () => (isRunning(before.pid) ? undefined : true), 10_000);
    const pairs = `User-Name=alice,User-Password="${PASSWORD}",Message-Authenticator=0x00`;
    expect((await radclientUntilAccepted({ port: radiusPort, secret: SECRET, pairs }, 60_000)).reply).toBe('Access-Accept');
    const after = readPostmasterPid(pgdata)!;
    expect(after.pid).not.toBe(before.pid);
    expect(isRunning(after.pid)).toBe(true);
    expect(after.port).toBe(before.port);
    postmasterPid = after.pid;
  }, 120_000);

  test('SIGTERM: serve exits 0 and takes its PostgreSQL down with it', async () => {
    expect(await serve!.terminate()).toEqual({ code: 0, signal: null, output: '' });
    await waitFor('the postmaster to be gone', () => (isRunning(postmasterPid) ? undefined : true), 10_000);
    expect(processesMentioning(pgdata)).toEqual([]);
    expect(fs.readdirSync(path.join(home, 'data', 'postgres.users'))).toEqual([]);
  }, 60_000);

  test('a CLI command with no server up starts the embedded PostgreSQL and stops it again', async () => {
    const logBefore = fs.readFileSync(path.join(home, 'data', 'postgres.log'), 'utf8');
    const list = await radotp(['user', 'list', '--json']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { username: string }[]).map((u) => u.username)).toEqual(['alice']); // data kept across restarts
    const since = fs.readFileSync(path.join(home, 'data', 'postgres.log'), 'utf8').slice(logBefore.length);
    expect(since).toMatch(/ready to accept connections/); // it did start one…
    expect(since).toMatch(/database system is shut down/); // …and stopped it before exiting
    const left = readPostmasterPid(pgdata);
    expect(left === undefined || !isRunning(left.pid)).toBe(true);
    expect(processesMentioning(pgdata)).toEqual([]);
  }, 120_000);
});
