import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Code } from '../../src/radius/types';
import { authenticate } from '../support/radius-client';
import type { ServeProcess } from '../support/serve-process';
import { TEST_SECRET } from '../support/server';
import { startServeWithUser } from '../support/serve-with-user';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * node.name is "this node's name in the audit trail and logs" (config.example.yaml), yet only the 'radotp
 * serving' and 'radotp stopped' lines carried it: the auth decisions and every warning (database lost, audit
 * trail not written) had just a pid, so in the cluster's collected logs nobody could tell which of three nodes
 * had lost its database.
 */
describe('radotp serve log lines', () => {
  let db: TestDatabase;
  let dir: string;
  let serve: ServeProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-lognode-'));
  });
  afterAll(async () => {
    if (serve && serve.child.exitCode === null && serve.child.signalCode === null) await serve.terminate();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('every line names the node (node.name)', async () => {
    let port: number;
    ({ serve, port } = await startServeWithUser(dir, db.url, { node: { name: 'radius-7' } }));
    expect((await authenticate(port, { username: 'alice', password: 'pw', secret: TEST_SECRET }))?.code).toBe(Code.AccessAccept);
    const { code } = await serve.terminate();
    expect(code).toBe(0);

    const lines = serve.output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { node?: string; msg: string });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['RADIUS server listening', 'auth decision', 'shutting down', 'radotp stopped']));
    expect(lines.filter((l) => l.node !== 'radius-7')).toEqual([]);
  }, 60_000);
});
