import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Code } from '../../src/radius/types';
import { accessRequest, authenticate, sendRaw } from '../support/radius-client';
import { startTestServer, TEST_SECRET, type TestServer } from '../support/server';
import { metricsText } from '../support/metrics';
import { waitFor } from '../support/wait-for';
import { logLines } from '../support/log-lines';
import { hotpForCounter, randomSeed } from '../support/otp-codes';
import type { PartialLoginTable } from '../../src/store/connect';

/*
 * A database that answers, yet holds the tables every login writes under a lock (an ALTER TABLE, a VACUUM FULL,
 * a CREATE INDEX without CONCURRENTLY, a LOCK TABLE run by hand at 3 a.m.): every login waits out
 * database.queryTimeout and goes unanswered. The health check's own statement touched no table, so /healthz
 * stayed 200 and Status-Server was answered: the load balancer and the NAS (RFC 5997 §3: an answer says the
 * server is alive) kept sending users to a node that could answer none of them.
 */
const PASSWORD = 'locked-tables-password';
const BOB_SEED = randomSeed();

describe('tables logins need, locked by another session', () => {
  let t: TestServer;
  let dir: string;
  let logFile: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-locked-tables-'));
    logFile = path.join(dir, 'serve.log');
    t = await startTestServer({
      dir,
      logFile,
      // ::1 is a NAS that checks the first factor itself (otp-only): its logins never read a password
      clients: [
        { name: 'local4', address: '127.0.0.1' },
        { name: 'local6', address: '::1', loginStyle: 'otp-only' },
      ],
      users: [{ username: 'alice', password: PASSWORD }, { username: 'bob', method: 'token' }],
      config: { database: { queryTimeout: 2 } },
    });
    const bob = await t.store.users.get('bob');
    await t.store.tokens.create({ serial: 'BOB-1', userId: bob.id, origin: 'hardware', kind: 'hotp', state: 'active', algorithm: 'sha1', digits: 6, seed: BOB_SEED });
  });
  afterAll(async () => {
    await t?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  /** The health check's warnings that the database is down, as logged. */
  const downWarnings = () => logLines<{ why?: string; table?: string }>(logFile).filter((l) => l.level === 40 && l.why !== undefined);

  const healthz = async () => (await fetch(`http://127.0.0.1:${t.httpPort}/healthz`, { signal: AbortSignal.timeout(8000) })).status;
  const statusServer = async () => (await sendRaw(accessRequest({ secret: TEST_SECRET, code: Code.StatusServer }).datagram, { port: t.port, timeoutMs: 500 }))?.[0] ?? null;
  const login = () => authenticate(t.port, { username: 'alice', password: PASSWORD, secret: TEST_SECRET, timeoutMs: 3000 });
  /** A query of the server's database, on a connection of its own. */
  const databaseRows = async (text: string) => {
    const c = new pg.Client({ connectionString: t.cfg.database.url });
    await c.connect();
    try {
      return (await c.query(text)).rows;
    } finally {
      await c.end();
    }
  };
  /** bob's otp-only login with his token's next code: no password read, no failure count, no challenge. */
  let bobsCounter = 0;
  const otpOnlyLogin = () => authenticate(t.port6!, { host: '::1', username: 'bob', password: hotpForCounter(BOB_SEED, bobsCounter++), secret: TEST_SECRET, timeoutMs: 3000 });

  // [tables held, mode, the table the warning names (the first of the login tables found held)]
  test.each([
    ['token, password_lockout, challenge', 'ACCESS EXCLUSIVE', 'token'],
    ['token', 'SHARE', 'token'], // CREATE INDEX without CONCURRENTLY: reads go on, writes wait
  ])('%s locked in %s mode: /healthz 503 and Status-Server unanswered while it holds, the warning names %s, 200 and answered once it is let go', async (tables, mode, named) => {
    const warnedBefore = downWarnings().length;
    expect((await otpOnlyLogin())?.code).toBe(Code.AccessAccept);
    const locker = new pg.Client({ connectionString: t.cfg.database.url });
    await locker.connect();
    try {
      await locker.query(`BEGIN; LOCK TABLE ${tables} IN ${mode} MODE`);
      expect(await otpOnlyLogin()).toBeNull(); // the login (its spend writes token) really cannot be decided
      expect(await waitFor('/healthz 503', async () => ((await healthz()) === 503 ? 503 : undefined), 10_000)).toBe(503);
      expect(await statusServer()).toBeNull();
      expect(await metricsText(t)).toMatch(/^radotp_database_up 0$/m);
      expect(downWarnings().slice(warnedBefore)).toEqual([expect.objectContaining({ why: 'locked', table: named, msg: expect.stringContaining(`the table ${named},`) })]);
    } finally {
      await locker.end(); // ends its transaction, and the lock
    }
    expect(await waitFor('/healthz 200', async () => ((await healthz()) === 200 ? 200 : undefined), 10_000)).toBe(200);
    expect(await statusServer()).toBe(Code.AccessAccept);
    expect((await otpOnlyLogin())?.code).toBe(Code.AccessAccept);
  }, 60_000);

  /**
   * Holds `table` (one only some logins need) locked in `mode` from a session of its own, and checks what every such
   * table gets: a warning naming the logins that go on (`goOn`), /healthz 200 and Status-Server answered through
   * `rounds` rounds of the check, the node up and the table's metric 1; `whileHeld` checks the logins meanwhile. Once
   * the lock is let go: the all clear, never counted as down, and the metric 0.
   */
  async function heldButUp(table: PartialLoginTable, mode: string, goOn: string, rounds: number, whileHeld: () => Promise<void>): Promise<void> {
    const linesBefore = logLines(logFile).length;
    const told = () => logLines(logFile).slice(linesBefore).filter((l) => l.table === table);
    const locker = new pg.Client({ connectionString: t.cfg.database.url });
    await locker.connect();
    try {
      await locker.query(`BEGIN; LOCK TABLE ${table} IN ${mode} MODE`);
      await waitFor('the warning', async () => (told().length > 0 ? true : undefined), 10_000);
      expect(told()).toEqual([expect.objectContaining({ level: 40, table, msg: expect.stringContaining(goOn) })]);
      for (let i = 0; i < rounds; i++) {
        expect(await healthz()).toBe(200);
        expect(await statusServer()).toBe(Code.AccessAccept);
        await new Promise((r) => setTimeout(r, 1000)); // through more than one round of the check
      }
      await whileHeld();
      const metrics = await metricsText(t);
      expect(metrics).toMatch(/^radotp_database_up 1$/m);
      expect(metrics).toMatch(new RegExp(`^radotp_database_${table}_table_locked 1$`, 'm'));
    } finally {
      await locker.end();
    }
    await waitFor('the all clear', async () => (told().length === 2 ? true : undefined), 10_000);
    expect(logLines<{ why?: string }>(logFile).slice(linesBefore).filter((l) => l.why !== undefined)).toEqual([]); // never counted as down
    expect(told()[1]).toEqual(expect.objectContaining({ level: 30, table }));
    expect(await metricsText(t)).toMatch(new RegExp(`^radotp_database_${table}_table_locked 0$`, 'm'));
  }

  /*
   * The challenge table alone (a DBA's VACUUM FULL challenge): only logins asked for their code need it. Counted as
   * down, every node sharing the database went down at once and the NASes failed over to nowhere, turning away
   * the otp-only, append and password-only logins that could be decided. The node stays up, and says why some
   * logins wait.
   */
  test('challenge alone locked in ACCESS EXCLUSIVE mode: /healthz stays 200, Status-Server answered, a login that needs no challenge is accepted; a warning and a metric say it', async () => {
    await heldButUp('challenge', 'ACCESS EXCLUSIVE', 'otp-only and append logins', 3, async () => {
      expect((await login())?.code).toBe(Code.AccessAccept); // a password-only user: no challenge is issued
    });
  }, 60_000);

  /*
   * The password_lockout table alone (a DBA's LOCK TABLE, a long migration, a CREATE INDEX on it): only the logins
   * that check a password write it (a wrong one's count, a right one's clearing). Counted as down, every node sharing
   * the database went down at once (/healthz 503, Status-Server unanswered) and the NASes failed over to nowhere,
   * turning away the otp-only logins, which never touch it. The node stays up, as for the challenge table; a warning
   * says which logins wait, and a metric of its own says the table is held.
   */
  test.each(['ACCESS EXCLUSIVE', 'SHARE'])('password_lockout alone locked in %s mode: /healthz stays 200, Status-Server answered, an otp-only login accepted, a password login unanswered; a warning and a metric say it', async (mode) => {
    await heldButUp('password_lockout', mode, 'otp-only logins', 3, async () => {
      expect((await otpOnlyLogin())?.code).toBe(Code.AccessAccept);
      expect(await login()).toBeNull(); // a password login waits out database.queryTimeout, as before: fail, database_timeout
      expect(await metricsText(t)).toMatch(/^radotp_database_challenge_table_locked 0$/m);
    });
    // the password login that waited: fail, as any login held up by a lock (written once the audit catches up)
    const reasons = async () => (await databaseRows(`SELECT result, reason FROM audit_event WHERE username = 'alice' ORDER BY id DESC LIMIT 1`))[0];
    expect(await waitFor('the audit row', async () => (await reasons()) ?? undefined, 10_000)).toEqual({ result: 'fail', reason: 'database_timeout' });
    expect((await login())?.code).toBe(Code.AccessAccept);
  }, 60_000);

  /*
   * The token_seed table (migration 0018: the sealed seeds, apart from the token rows the spends write). A login reads
   * it only for a user not in the node's login cache (after a start, an admin's change, a user not seen yet): held in
   * ACCESS EXCLUSIVE (a DBA's VACUUM FULL, ALTER TABLE, LOCK TABLE), those logins wait out database.queryTimeout while
   * the check, which locked only the tables logins write, said nothing. Cached users' logins go on, so the node stays
   * up, as for the challenge table; a warning says which logins wait, and a metric of its own says the table is held.
   */
  test('token_seed locked in ACCESS EXCLUSIVE mode: /healthz stays 200, Status-Server answered, a cached user logs in; a warning and a metric say it', async () => {
    expect((await otpOnlyLogin())?.code).toBe(Code.AccessAccept); // bob in this node's login cache
    await heldButUp('token_seed', 'ACCESS EXCLUSIVE', 'login cache', 2, async () => {
      expect((await otpOnlyLogin())?.code).toBe(Code.AccessAccept);
    });
  }, 60_000);
});
