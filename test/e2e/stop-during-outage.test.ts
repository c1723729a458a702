import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PluggableProxy } from '../support/pluggable-proxy';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET } from '../support/server';
import { createTestDatabase } from '../support/test-database';
import { logLines } from '../support/log-lines';

/*
 * A server stopped (a restart, a deploy) while the database is away cannot write the audit events it still
 * holds. It used to stop after a last "audit trail not written yet; will retry": the events were gone from
 * `radotp audit` and nothing told the operator so.
 */
test('stopping while the database is away says, as an error, how many audit events are lost', async () => {
  const db = await createTestDatabase();
  const { proxy, url: viaProxy } = await PluggableProxy.inFrontOf(db.url);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-stop-outage-'));
  const logFile = path.join(dir, 'serve.log');
  const t = await startTestServer({ dir, database: { url: viaProxy }, users: [{ username: 'alice', password: 'pw' }], logFile });
  try {
    proxy.pullPlug();
    for (const password of ['pw', 'wrong']) {
      expect(await authenticate(t.port, { username: 'alice', password, secret: TEST_SECRET, timeoutMs: 1000 })).toBeNull();
    }
    await t.server.stop();
    await new Promise((r) => setTimeout(r, 200)); // the log stream's last write
    const lines = logLines<{ lost?: number }>(logFile);
    const lost = lines.filter((l) => /audit events? (were )?lost/.test(l.msg));
    expect(lost).toEqual([expect.objectContaining({ level: 50, lost: 2 })]);
  } finally {
    proxy.restore();
    await t.close();
    await proxy.close();
    await db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
