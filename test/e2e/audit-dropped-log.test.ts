import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PluggableProxy } from '../support/pluggable-proxy';
import { accessRequest } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricOf } from '../support/metrics';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/*
 * A database away for longer than audit.maxBacklog events: the oldest events are dropped. They were counted in
 * radotp_audit_dropped_total and told nowhere else: the log said only 'audit trail not written yet; will retry'
 * (a warning), and an auditor reading it believed the trail whole once it said 'written again'. Losing part of
 * the trail is an error in the log, naming audit.maxBacklog, at most once a minute.
 */

const MAX_BACKLOG = 1000;

let db: TestDatabase;
let proxy: PluggableProxy;
let t: TestServer;
let dir: string;
const logFile = () => path.join(dir, 'serve.log');

beforeAll(async () => {
  db = await createTestDatabase();
  const front = await PluggableProxy.inFrontOf(db.url);
  proxy = front.proxy;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-audit-dropped-'));
  t = await startTestServer({
    dir,
    database: { url: front.url },
    logFile: logFile(),
    users: [{ username: 'alice', password: 'alice-password' }],
    config: { audit: { maxBacklog: MAX_BACKLOG }, radius: { maxPending: 5000 } },
  });
});
afterAll(async () => {
  proxy?.restore();
  await t?.close();
  await proxy?.close();
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const lines = () =>
  fs
    .readFileSync(logFile(), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: number; msg: string; key?: string });

test('events dropped for room while the database is away are an error in the log, once', async () => {
  proxy.pullPlug();
  const socket = dgram.createSocket('udp4');
  try {
    for (let i = 0; i < MAX_BACKLOG + 200; i++) {
      socket.send(accessRequest({ username: `user${i}`, password: 'whatever', secret: TEST_SECRET }).datagram, t.port, '127.0.0.1');
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20)); // within the socket's buffer
    }
    await waitFor('events dropped', async () => {
      const dropped = (await metricOf(t, 'radotp_audit_dropped_total')) ?? 0;
      return dropped >= 100 ? dropped : undefined;
    });
  } finally {
    socket.close();
  }
  await new Promise((r) => setTimeout(r, 200)); // pino's file stream
  const errors = lines().filter((l) => l.level >= 50 && /audit events? dropped/.test(l.msg));
  expect(errors).toEqual([expect.objectContaining({ key: 'audit.maxBacklog' })]);
}, 60_000);
