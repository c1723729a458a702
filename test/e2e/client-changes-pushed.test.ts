import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
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

type From = 'v4' | 'v6';
type Seen = readonly [secret: string, does: 'accept' | 'drop', from?: From];
const does = { accept: (a: Answer | null) => a?.code === Code.AccessAccept, drop: (a: Answer | null) => a === null };

interface Node {
  readonly name: string;
  readonly serve: ServeProcess;
  readonly port: number;
  readonly port6: number;
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
        radius: { listen: ['127.0.0.1:0', '[::1]:0'], clientRefresh: 3600 },
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
        const bound = (JSON.parse(line) as { radius: { address: string; port: number }[] }).radius;
        const portOf = (v6: boolean) => bound.find((b) => b.address.includes(':') === v6)!.port;
        return { name: i === 0 ? 'node-a' : 'node-b', serve, port: portOf(false), port6: portOf(true) };
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

  /** alice's login through the NAS at `from` (127.0.0.1 or ::1) with `secret`. */
  const login = (n: Node, secret: string, from: From): Promise<Answer | null> =>
    authenticate(from === 'v6' ? n.port6 : n.port, { host: from === 'v6' ? '::1' : '127.0.0.1', username: 'alice', password: 'pw', secret, timeoutMs: 1000 });

  /**
   * Asks `n` again and again until its answer is the one expected; how long after `started` the request that
   * got it was sent (a request is let wait a second for its answer, so that a password check slowed by a busy
   * machine is not taken for a drop, and that wait is not counted), or undefined if none within `ms`.
   */
  async function msUntil(n: Node, [secret, expected, from = 'v4']: Seen, started: number, ms = 3000): Promise<number | undefined> {
    while (Date.now() - started < ms) {
      const sent = Date.now();
      if (does[expected](await login(n, secret, from))) return sent - started;
    }
    return undefined;
  }


  /*
   * In order, each step starting from where the one before left the cluster, which it checks first (so that a
   * step cannot pass for a change that never came): [what the admin does, the command (null: none), its stdin,
   * the NAS's secret, what both nodes do with it and from where (default 127.0.0.1) before, the same after].
   */
  const steps: [string, string[] | null, string | undefined, Seen, Seen][] = [
    ['adds the NAS (client add)', ['client', 'add', 'vpn2', '--address', '127.0.0.1', '--secret-stdin'], SECRET, [SECRET, 'drop'], [SECRET, 'accept']],
    ['re-keys it (client set --secret): the NAS, already re-keyed, is answered', ['client', 'set', 'vpn2', '--secret-stdin'], NEW_SECRET, [SECRET, 'accept'], [NEW_SECRET, 'accept']],
    ['re-keyed it: the old secret is no longer taken', null, undefined, [NEW_SECRET, 'accept'], [SECRET, 'drop']],
    ['removes it (client remove): it is dropped', ['client', 'remove', 'vpn2'], undefined, [NEW_SECRET, 'accept'], [NEW_SECRET, 'drop']],
    // IPv6, written long: stored as the network it is (::1/128), matched as the socket reports the source
    ['adds an IPv6 NAS (client add --address 0:0:0:0:0:0:0:1)', ['client', 'add', 'vpn6', '--address', '0:0:0:0:0:0:0:1', '--secret-stdin'], SECRET, [SECRET, 'drop', 'v6'], [SECRET, 'accept', 'v6']],
    // Overlapping networks: the most specific wins (RFC 2865 §3 wants one secret per source; FreeRADIUS does the same)
    ['adds a whole network (127.0.0.0/8)', ['client', 'add', 'loopback-net', '--address', '127.0.0.0/8', '--secret-stdin'], SECRET, [SECRET, 'drop'], [SECRET, 'accept']],
    ['adds one host inside it (127.0.0.1) with its own secret: that host now goes by it', ['client', 'add', 'vpn-host', '--address', '127.0.0.1', '--secret-stdin'], NEW_SECRET, [SECRET, 'accept'], [NEW_SECRET, 'accept']],
    ["added the host: the network's secret is no longer taken from it", null, undefined, [NEW_SECRET, 'accept'], [SECRET, 'drop']],
    ["removes the host: the network's secret applies to it again", ['client', 'remove', 'vpn-host'], undefined, [NEW_SECRET, 'accept'], [SECRET, 'accept']],
  ];

  test.each(steps)('the admin %s', async (_what, args, stdin, before, after) => {
    const was = await Promise.all(nodes.map((n) => login(n, before[0], before[2] ?? 'v4')));
    expect(was.map(does[before[1]])).toEqual([true, true]);
    if (args !== null) {
      const r = await runCli(args, { cwd: dirA, env: { RADOTP_DATABASE_URL: db.url }, stdin, timeoutMs: 60_000 });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    }
    const started = Date.now();
    const took = await Promise.all(nodes.map((n) => msUntil(n, after, started)));
    // both nodes, within the second (undefined: not even within 3 s)
    expect(took.map((ms) => ms !== undefined && ms <= WITHIN_MS)).toEqual([true, true]);
  });

  test('a change no node heard (its notification lost with their listening connections) applies when they reconnect', async () => {
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      expect((await Promise.all(nodes.map((n) => login(n, SECRET, 'v4')))).map(does.accept)).toEqual([true, true]);
      // a change that sends no notification: as if made while every node's listener was away
      await sql.query('BEGIN');
      await sql.query('ALTER TABLE radius_client DISABLE TRIGGER radius_client_changed');
      await sql.query("DELETE FROM radius_client WHERE name = 'loopback-net'");
      await sql.query('ALTER TABLE radius_client ENABLE TRIGGER radius_client_changed');
      await sql.query('COMMIT');
      // not heard: still answered
      expect((await Promise.all(nodes.map((n) => login(n, SECRET, 'v4')))).map(does.accept)).toEqual([true, true]);
      // the listening connections go; each node reconnects within a second or so and must read its clients again
      const cut = await sql.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'radotp-listen'");
      expect(cut.rowCount).toBe(2);
      const started = Date.now();
      const took = await Promise.all(nodes.map((n) => msUntil(n, [SECRET, 'drop'], started, 5000)));
      expect(took.map((ms) => ms !== undefined && ms <= 3000)).toEqual([true, true]);
    } finally {
      await sql.end();
    }
  });
});

async function waitForOutput(n: Node, text: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!n.serve.output.includes(text)) {
    if (Date.now() > deadline) throw new Error(`${n.name} never logged ${text}:\n${n.serve.output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
