import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashPassword } from '../../src/auth/password-hash';
import { Code } from '../../src/radius/types';
import { openStore } from '../../src/store/open';
import { runCli } from '../support/cli';
import { authenticate, type Answer } from '../support/radius-client';
import { ServeProcess } from '../support/serve-process';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A network admin changes the RADIUS clients of a running two-node cluster with the CLI. Each change must
 * apply on both nodes at once, as user and token changes do (LISTEN/NOTIFY), not at the next
 * radius.clientRefresh: here that poll is an hour, so only the notification can bring a change in time.
 * Before, a new NAS's first logins were dropped as unknown_client, a re-keyed NAS was dropped, and a removed
 * (decommissioned, compromised) NAS was still answered, each for up to radius.clientRefresh (10 s by default).
 */
const SECRET = 'first-shared-secret-0123';
const NEW_SECRET = 'second-shared-secret-4567';
/** How soon after the CLI returns a change must show on every node. */
const WITHIN_MS = 1000;

interface Node {
  readonly name: string;
  readonly serve: ServeProcess;
  readonly port: number;
}

describe('client changes on a running two-node cluster apply on both nodes within a second', () => {
  let db: TestDatabase;
  let root: string;
  let dirA: string;
  let nodes: Node[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-nasadd-'));
    const keyFile = path.join(root, 'master.key');
    const configOf = (name: string) => {
      const dir = path.join(root, name);
      fs.mkdirSync(dir);
      return testConfig(dir, db.url, {
        keyFile,
        node: { name },
        // an hour: the poll cannot be what brings a change within the second
        radius: { listen: ['127.0.0.1:0'], clientRefresh: 3600 },
        http: { listen: null },
        log: { level: 'info' },
      });
    };
    const a = configOf('node-a');
    const b = configOf('node-b');
    dirA = path.dirname(a.file);
    const admin = await openStore(a.cfg, { createKey: true, migrate: true, poolSize: 1 });
    // some other NAS, so the nodes start with a table that does not hold 127.0.0.1
    await admin.clients.add({ name: 'elsewhere', address: '192.0.2.0/24', secret: Buffer.from(SECRET), requireMessageAuthenticator: true, loginStyle: 'challenge' });
    await admin.users.add({ username: 'alice', passwordHash: await hashPassword('pw'), method: 'password' });
    await admin.close();
    nodes = await Promise.all(
      [a, b].map(async ({ file }, i) => {
        const serve = ServeProcess.start(file);
        await serve.serving();
        const line = serve.output.split('\n').find((l) => l.includes('"radotp serving"'))!;
        return { name: i === 0 ? 'node-a' : 'node-b', serve, port: (JSON.parse(line) as { radius: { port: number }[] }).radius[0]!.port };
      }),
    );
    // the listeners are live once each node has warmed its user cache (onLive)
    for (const n of nodes) await waitForOutput(n, '"user cache warmed"');
  }, 120_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.serve.terminate()));
    await db?.drop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  const login = (n: Node, secret: string): Promise<Answer | null> => authenticate(n.port, { username: 'alice', password: 'pw', secret, timeoutMs: 150 });

  /** Asks `n` again and again until `done` holds for its answer; how long that took, or undefined if not within `ms`. */
  async function msUntil(n: Node, secret: string, done: (a: Answer | null) => boolean, ms = 3000): Promise<number | undefined> {
    const started = Date.now();
    while (Date.now() - started < ms) {
      if (done(await login(n, secret))) return Date.now() - started;
    }
    return undefined;
  }

  const accepted = (a: Answer | null) => a?.code === Code.AccessAccept;
  const dropped = (a: Answer | null) => a === null;

  /*
   * In order, each step starting from where the one before left the cluster, which it checks first (so that a
   * step cannot pass for a change that never came): [what the admin does, the command (null: none), its stdin,
   * the NAS's secret and what both nodes do with it before, the same after].
   */
  type Seen = readonly [secret: string, does: 'accept' | 'drop'];
  const steps: [string, string[] | null, string | undefined, Seen, Seen][] = [
    ['adds the NAS (client add)', ['client', 'add', 'vpn2', '--address', '127.0.0.1', '--secret-stdin'], SECRET, [SECRET, 'drop'], [SECRET, 'accept']],
    ['re-keys it (client set --secret): the NAS, already re-keyed, is answered', ['client', 'set', 'vpn2', '--secret-stdin'], NEW_SECRET, [SECRET, 'accept'], [NEW_SECRET, 'accept']],
    ['re-keyed it: the old secret is no longer taken', null, undefined, [NEW_SECRET, 'accept'], [SECRET, 'drop']],
    ['removes it (client remove): it is dropped', ['client', 'remove', 'vpn2'], undefined, [NEW_SECRET, 'accept'], [NEW_SECRET, 'drop']],
  ];
  const does = { accept: accepted, drop: dropped };

  test.each(steps)('the admin %s', async (_what, args, stdin, before, after) => {
    for (const n of nodes) expect(does[before[1]](await login(n, before[0]))).toBe(true);
    if (args !== null) {
      const r = await runCli(args, { cwd: dirA, env: { RADOTP_DATABASE_URL: db.url }, stdin, timeoutMs: 60_000 });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    }
    const took = await Promise.all(nodes.map((n) => msUntil(n, after[0], does[after[1]])));
    // both nodes, within the second (undefined: not even within 3 s)
    expect(took.map((ms) => ms !== undefined && ms <= WITHIN_MS)).toEqual([true, true]);
  });
});

async function waitForOutput(n: Node, text: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!n.serve.output.includes(text)) {
    if (Date.now() > deadline) throw new Error(`${n.name} never logged ${text}:\n${n.serve.output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
