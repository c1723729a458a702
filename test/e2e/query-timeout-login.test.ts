import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { authenticate } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText } from '../support/metrics';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/log-lines';

/*
 * A login whose statement waits on a lock another session holds (an ALTER TABLE, a LOCK TABLE run by hand)
 * outlives database.queryTimeout and goes unanswered. It was counted and audited as database_unavailable, as
 * if the database were down, and logged nowhere above info: the operator reading warnings saw nothing, and
 * what they saw elsewhere pointed at the wrong cause.
 */
const PASSWORD = 'query-timeout-password';

describe('a login statement that outlives database.queryTimeout', () => {
  let t: TestServer;
  let dir: string;
  let logFile: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-query-timeout-'));
    logFile = path.join(dir, 'serve.log');
    t = await startTestServer({ dir, users: [{ username: 'alice', password: PASSWORD }], logFile, config: { database: { queryTimeout: 1 } } });
  });
  afterAll(async () => {
    await t?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const lines = () => logLines<{ setting?: string; value?: unknown }>(logFile);
  const login = () => authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 2000 });

  test('is fail database_timeout in the metrics and the audit trail, and one warning names the setting', async () => {
    const locker = new pg.Client({ connectionString: t.cfg.database.url });
    await locker.connect();
    try {
      await locker.query('BEGIN; LOCK TABLE password_lockout IN ACCESS EXCLUSIVE MODE');
      expect(await login()).toBeNull();
      expect(await login()).toBeNull();
    } finally {
      await locker.end();
    }
    const metrics = await metricsText(t);
    expect(metrics).toMatch(/^radotp_decisions_total\{result="fail",reason="database_timeout"\} 2$/m);
    expect(metrics).not.toMatch(/reason="database_unavailable"/);
    const warned = lines().filter((l) => l.level >= 40 && l.setting === 'database.queryTimeout');
    expect(warned).toEqual([expect.objectContaining({ value: '1s' })]);
    expect(fs.readFileSync(logFile, 'utf8')).not.toContain(PASSWORD);
    const audited = new pg.Client({ connectionString: t.cfg.database.url });
    await audited.connect();
    try {
      const rows = await waitFor('the audit rows', async () => {
        const r = await audited.query("SELECT result, reason FROM audit_event WHERE result = 'fail'");
        return r.rows.length >= 2 ? r.rows : undefined;
      });
      expect(rows).toEqual([
        { result: 'fail', reason: 'database_timeout' },
        { result: 'fail', reason: 'database_timeout' },
      ]);
    } finally {
      await audited.end();
    }
  }, 30_000);
});
