import { hashPassword } from '../../src/auth/password-hash';
import { openStore } from '../../src/store/open';
import { ServeProcess } from './serve-process';
import { TEST_SECRET, testConfig } from './server';

/**
 * `radotp serve` as a child process on database `databaseUrl`, with config in `dir` (plus `extra`): client
 * 'local' (127.0.0.1, TEST_SECRET) and the password user alice / 'pw'. Resolves once it serves, with its
 * RADIUS port (it listens on 127.0.0.1:0).
 */
export async function startServeWithUser(dir: string, databaseUrl: string, extra: Record<string, unknown> = {}): Promise<{ serve: ServeProcess; port: number }> {
  const { cfg, file } = testConfig(dir, databaseUrl, { radius: { listen: ['127.0.0.1:0'] }, log: { level: 'info' }, ...extra });
  const store = await openStore(cfg, { createKey: true, migrate: true, poolSize: 1 });
  await store.clients.add({ name: 'local', address: '127.0.0.1', secret: Buffer.from(TEST_SECRET), requireMessageAuthenticator: true, loginStyle: 'challenge' });
  await store.users.add({ username: 'alice', passwordHash: await hashPassword('pw'), method: 'password' });
  await store.close();

  const serve = ServeProcess.start(file);
  await serve.serving();
  const line = serve.output.split('\n').find((l) => l.includes('"radotp serving"'))!;
  return { serve, port: (JSON.parse(line) as { radius: { port: number }[] }).radius[0]!.port };
}
