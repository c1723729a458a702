import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PluggableProxy } from '../support/pluggable-proxy';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/log-lines';

/*
 * What an operator's log says while the database is away. Jobs that retry on a timer (reloading the RADIUS
 * clients every radius.clientRefresh, writing the audit trail every second) used to write a warning at every
 * try: an outage of ten minutes filled the log with a thousand lines per node that said nothing new.
 */

const PASSWORD = 'outage-logs-password';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('log lines during a database outage', () => {
  let db: TestDatabase;
  let proxy: PluggableProxy;
  let t: TestServer;
  let dir: string;
  let logFile: string;
  const lines = () => logLines(logFile);
  const count = (msg: RegExp) => lines().filter((l) => msg.test(l.msg)).length;

  beforeAll(async () => {
    db = await createTestDatabase();
    const front = await PluggableProxy.inFrontOf(db.url);
    proxy = front.proxy;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-outage-logs-'));
    logFile = path.join(dir, 'serve.log');
    // clientRefresh 0.2 s (the test default): twenty reloads fail in the four seconds below
    t = await startTestServer({ dir, database: { url: front.url }, users: [{ username: 'alice', password: PASSWORD }], logFile });
  });
  afterAll(async () => {
    proxy.restore();
    await t?.close();
    await proxy?.close();
    await db?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('each retrying job warns once when it starts failing, not at every try, and says when it works again', async () => {
    // several connections open in the pools (as on a busy node), each of which the outage breaks
    await Promise.all(Array.from({ length: 6 }, () => authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET })));
    proxy.pullPlug();
    // a decision during the outage leaves an audit event waiting, retried every second
    expect(await authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 1000 })).toBeNull();
    await sleep(4000);
    expect(count(/^could not reload RADIUS clients/)).toBe(1);
    expect(count(/^audit trail not written yet/)).toBe(1);

    proxy.restore();
    await waitFor('the RADIUS clients to be reloaded again', async () => (count(/^RADIUS clients reloaded again/) === 1 ? true : undefined));
    await waitFor('the audit trail to be written again', async () => (count(/^audit trail written again/) === 1 ? true : undefined));
    expect(count(/^could not reload RADIUS clients/)).toBe(1);
    expect(count(/^audit trail not written yet/)).toBe(1);
    // every pooled connection the outage broke used to write its own 'database connection lost'
    expect(count(/^database connection lost/)).toBe(1);
    await waitFor('the pools to connect again', async () => (count(/^database connections open again/) === 1 ? true : undefined));
  }, 30_000);
});
