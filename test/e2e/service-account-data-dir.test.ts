import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { stopEmbeddedPostgres } from '../../src/store/embedded-postgres';
import { runCli, type CliOptions, type RunAsUser } from '../support/cli';
import { radclient } from '../support/radclient';
import { freePort, ServeProcess } from '../support/serve-process';

/*
 * radotp installed as a systemd service running as its own account (no login shell), dataDir owned by that account
 * (mode 0700), on the embedded PostgreSQL; admins run `sudo radotp --config /etc/radotp.yaml …`, sometimes before
 * the service has ever started. Root going first on that fresh, empty dataDir used to run the cluster as 'postgres'
 * (which could not even enter the folder, so the cluster went under /var/lib/radotp) and leave master.key,
 * postgres.password and the rest root's, 0600: the service could then neither read them nor start its own cluster.
 */

/** An unprivileged account with no login shell, as a service's is. */
const SERVICE: RunAsUser = { uid: 65534, gid: 65534 };
const SECRET = 'service-account-secret-7d41';
const PASSWORD = 'service account password';
const asRoot = process.getuid?.() === 0 ? describe : describe.skip; // only root can be another user

asRoot('sudo radotp on the fresh dataDir of a service account', () => {
  let home: string;
  const dataDirs: string[] = [];
  let serve: ServeProcess | undefined;

  beforeAll(() => {
    home = fs.mkdtempSync('/tmp/radotp-service-account-');
    fs.chmodSync(home, 0o755);
  });

  afterAll(async () => {
    if (serve && serve.child.exitCode === null && serve.child.signalCode === null) {
      serve.child.kill('SIGKILL');
      await serve.exited;
    }
    for (const dir of dataDirs) {
      await stopEmbeddedPostgres(dir).catch(() => undefined);
      // where root used to put a cluster of its own when 'postgres' could not enter dataDir
      fs.rmSync(`/var/lib/radotp/embedded-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`, { recursive: true, force: true });
    }
    fs.rmSync(home, { recursive: true, force: true });
  });

  /** `install -d -o radotp -m 0700 /srv/radotp`, and a config naming it (root's, readable by all, as /etc's). */
  async function serviceDataDir(name: string): Promise<{ dataDir: string; config: string; radiusPort: number }> {
    const dataDir = path.join(home, name);
    fs.mkdirSync(dataDir, { mode: 0o700 });
    fs.chownSync(dataDir, SERVICE.uid, SERVICE.gid);
    dataDirs.push(dataDir);
    const radiusPort = await freePort('udp');
    const config = path.join(home, `${name}.yaml`);
    const yaml = ['radius:', `  listen: ["127.0.0.1:${radiusPort}"]`, 'http:', `  listen: 127.0.0.1:${await freePort('tcp')}`, `dataDir: ${dataDir}`, 'log:', '  level: info', ''];
    fs.writeFileSync(config, yaml.join('\n'), { mode: 0o644 });
    return { dataDir, config, radiusPort };
  }

  const radotp = (config: string, args: string[], opts: CliOptions = {}) => runCli([...args, '--config', config], { timeoutMs: 90_000, ...opts });

  /** Every path under `dir` (itself included) that does not belong to the service account, with its owner. */
  function notTheServices(dir: string): string[] {
    const found: string[] = [];
    const visit = (p: string) => {
      const st = fs.lstatSync(p);
      if (st.uid !== SERVICE.uid || st.gid !== SERVICE.gid) found.push(`${path.relative(dir, p) || '.'} (${st.uid}:${st.gid})`);
      if (st.isDirectory()) for (const name of fs.readdirSync(p)) visit(path.join(p, name));
    };
    visit(dir);
    return found;
  }

  test("root's init and user add first, then the service's own serve: everything there is the service's, and a login goes through", async () => {
    const { dataDir, config, radiusPort } = await serviceDataDir('srv');
    expect(await radotp(config, ['init'])).toMatchObject({ code: 0, stderr: '' });
    expect(await radotp(config, ['client', 'add', 'local', '--address', '127.0.0.1', '--secret', SECRET])).toEqual({ code: 0, stdout: 'client local added\n', stderr: '' });
    expect(await radotp(config, ['user', 'add', 'alice', '--password-stdin'], { stdin: `${PASSWORD}\n` })).toEqual({ code: 0, stdout: 'user alice added (method password)\n', stderr: '' });
    expect(fs.existsSync(path.join(dataDir, 'postgres.location'))).toBe(false); // the cluster is in dataDir, the service's
    expect(notTheServices(dataDir)).toEqual([]);

    serve = ServeProcess.start(config, { as: SERVICE });
    await serve.serving();
    const login = await radclient({ port: radiusPort, secret: SECRET, pairs: `User-Name=alice,User-Password="${PASSWORD}",Message-Authenticator=0x00` });
    expect(login.reply).toBe('Access-Accept');
    // root's command while the service serves, and the service's own
    expect(await radotp(config, ['user', 'add', 'bob', '--password-stdin'], { stdin: 'bob password\n' })).toMatchObject({ code: 0, stderr: '' });
    const list = await radotp(config, ['user', 'list', '--json'], { as: SERVICE });
    expect(list).toMatchObject({ code: 0, stderr: '' });
    expect((JSON.parse(list.stdout) as { username: string }[]).map((u) => u.username).sort()).toEqual(['alice', 'bob']);
    expect(await serve.terminate()).toEqual({ code: 0, signal: null, output: '' });
    expect(notTheServices(dataDir)).toEqual([]);
  }, 240_000);

  test('what root makes there has the modes the service gives it when it goes first itself', async () => {
    const byService = await serviceDataDir('by-service');
    const byRoot = await serviceDataDir('by-root');
    expect(await radotp(byService.config, ['init'], { as: SERVICE })).toMatchObject({ code: 0, stderr: '' });
    expect(await radotp(byRoot.config, ['init'])).toMatchObject({ code: 0, stderr: '' });
    expect(modes(byRoot.dataDir)).toEqual(modes(byService.dataDir));
  }, 180_000);

  // The folder is the service account's, so it can plant symlinks there (a compromised service, say): root's next
  // command must neither write through one nor hand what it names to the account (a chown by path follows it).
  test.each([
    ['postgres.password', 'a file of root'],
    ['postgres.password', 'nothing yet'],
    ['postgres.log', 'a file of root'],
    ['postgres.log', 'nothing yet'],
    ['postgres.port', 'a file of root'],
    ['postgres.port', 'nothing yet'],
    ['master.key', 'nothing yet'],
  ])('a symlink planted as %s, to %s: root neither writes there nor gives it away', async (name, target) => {
    const { dataDir, config } = await serviceDataDir(`planted-${dataDirs.length}`);
    const victim = path.join(home, `victim-${dataDirs.length}`);
    if (target === 'a file of root') fs.writeFileSync(victim, "root's own\n", { mode: 0o600 });
    fs.symlinkSync(victim, path.join(dataDir, name));
    fs.lchownSync(path.join(dataDir, name), SERVICE.uid, SERVICE.gid);
    await radotp(config, ['init']); // refused or not: what matters is below
    if (target === 'nothing yet') {
      expect(fs.existsSync(victim)).toBe(false);
    } else {
      expect(fs.readFileSync(victim, 'utf8')).toBe("root's own\n");
      expect(fs.statSync(victim)).toMatchObject({ uid: 0, gid: 0 });
    }
  }, 120_000);
});

/** Name, kind, mode and owner of each entry of `dir` (and of the folders among them, one level down). */
function modes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const describe = (p: string) => {
    const st = fs.lstatSync(p);
    const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isSocket() ? 'socket' : 'file';
    return `${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  };
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    out[name] = describe(p);
    if (name !== 'postgres' && fs.lstatSync(p).isDirectory()) for (const inner of fs.readdirSync(p)) out[`${name}/${inner}`] = describe(path.join(p, inner));
  }
  return out;
}
