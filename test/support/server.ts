import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { parseConfig, type LoadedConfig } from '../../src/config/load';
import { startServer, type RunningServer } from '../../src/app/serve';
import { createLogger } from '../../src/obs/logger';
import { openStore, type Store } from '../../src/store/open';
import { hashPassword } from '../../src/auth/password-hash';
import { createTestDatabase, type TestDatabase } from './test-database';

export interface TestServer {
  readonly server: RunningServer;
  readonly cfg: LoadedConfig;
  readonly port: number;
  readonly port6?: number;
  readonly httpPort?: number;
  readonly store: Store;
  readonly dir: string;
  readonly configFile: string;
  /** Stops the server (and the extra store), drops the database unless kept. */
  close(): Promise<void>;
}

export const TEST_SECRET = 'test-secret-0123456789';

/** A config for tests: loopback, port 0, fast client refresh, silent logs; `extra` is merged in. */
export function testConfig(dir: string, databaseUrl: string, extra: Record<string, unknown> = {}): { cfg: LoadedConfig; file: string } {
  const raw = deepMerge(
    {
      radius: { listen: ['127.0.0.1:0', '[::1]:0'], clientRefresh: 0.2 },
      database: { url: databaseUrl, poolSize: 8 },
      dataDir: dir,
      http: { listen: '127.0.0.1:0' },
      log: { level: 'silent' },
      node: { name: 'test-node' },
    },
    extra,
  );
  const file = path.join(dir, 'radotp.yaml');
  const text = stringify(raw);
  fs.writeFileSync(file, text);
  return { cfg: parseConfig(text, file, {}), file };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' && !Array.isArray(prev)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

export interface StartOptions {
  config?: Record<string, unknown>;
  /** Reuse a database (e.g. a second node of one cluster); otherwise a fresh one is created and dropped. */
  database?: { url: string };
  /** Reuse a data dir (same key file as another node). */
  dir?: string;
  clients?: { name: string; address: string; secret?: string; requireMessageAuthenticator?: boolean; loginStyle?: 'challenge' | 'append' | 'otp-only' }[];
  users?: { username: string; password?: string; method?: string }[];
  logFile?: string;
}

export async function startTestServer(opts: StartOptions = {}): Promise<TestServer> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-test-'));
  let db: TestDatabase | undefined;
  const url = opts.database?.url ?? (db = await createTestDatabase()).url;
  const { cfg, file } = testConfig(dir, url, opts.config);
  const admin = await openStore(cfg, { createKey: true, migrate: true, poolSize: 2 });
  const clients = opts.clients ?? [
    { name: 'local4', address: '127.0.0.1' },
    { name: 'local6', address: '::1' },
  ];
  for (const c of clients) {
    if (opts.database && (await admin.clients.list()).some((x) => x.name === c.name)) continue;
    await admin.clients.add({
      name: c.name,
      address: c.address,
      secret: Buffer.from(c.secret ?? TEST_SECRET),
      requireMessageAuthenticator: c.requireMessageAuthenticator ?? true,
      loginStyle: c.loginStyle ?? 'challenge',
    });
  }
  for (const u of opts.users ?? []) {
    await admin.users.add({ username: u.username, passwordHash: u.password ? await hashPassword(u.password) : null, method: u.method ?? 'password' });
  }
  const logger = opts.logFile ? createLogger('info', { destination: fs.createWriteStream(opts.logFile) as never }) : undefined;
  const server = await startServer(cfg, { logger });
  const v4 = server.radius.find((a) => !a.address.includes(':'));
  const v6 = server.radius.find((a) => a.address.includes(':'));
  return {
    server,
    cfg,
    port: v4!.port,
    port6: v6?.port,
    httpPort: server.http?.port,
    store: admin,
    dir,
    configFile: file,
    async close() {
      await server.stop();
      await admin.close();
      await db?.drop();
    },
  };
}
