import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Code } from '../../src/radius/types';
import { authenticate } from '../support/radius-client';
import { ServeProcess, waitFor } from '../support/serve-process';
import { TEST_SECRET } from '../support/server';
import { startServeWithUser } from '../support/serve-with-user';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * SIGHUP is what `systemctl reload`, `kill -HUP` and a closed terminal send. radotp has no reload (its config
 * is read once, at start), and Node's default for SIGHUP is to die at once: no reply to the logins in flight,
 * no audit flush, an embedded PostgreSQL left behind, and not a line in the log. An operator asking for a
 * reload must not get an outage: the server keeps serving and says that a restart applies config changes.
 */
describe('radotp serve and SIGHUP', () => {
  let db: TestDatabase;
  let dir: string;
  let serve: ServeProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-sighup-'));
  });
  afterAll(async () => {
    if (serve && serve.child.exitCode === null && serve.child.signalCode === null) await serve.terminate();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('keeps serving, logs that a restart applies config changes, and still stops cleanly on SIGTERM', async () => {
    let port: number;
    ({ serve, port } = await startServeWithUser(dir, db.url));

    serve.child.kill('SIGHUP');
    await waitFor('a log line about SIGHUP', () => (/"signal":"SIGHUP"/.test(serve!.output) ? true : undefined), 5000).catch(() => undefined);
    expect({ exitCode: serve.child.exitCode, signal: serve.child.signalCode }).toEqual({ exitCode: null, signal: null });
    const line = serve.output.split('\n').find((l) => l.includes('"signal":"SIGHUP"'));
    expect(line).toMatch(/restart/);
    expect((await authenticate(port, { username: 'alice', password: 'pw', secret: TEST_SECRET }))?.code).toBe(Code.AccessAccept);

    const { code, signal } = await serve.terminate();
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  }, 60_000);
});
