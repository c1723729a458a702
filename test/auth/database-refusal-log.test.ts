import { Writable } from 'node:stream';
import { AuthPipeline } from '../../src/auth/pipeline';
import { internalErrorLog } from '../../src/app/pipeline';
import { createLogger } from '../../src/obs/logger';

/*
 * A database that answers but refuses the work (a full disk: SQLSTATE 53100; max_connections reached: 53300)
 * leaves logins unanswered, as it must. The operator must be able to read why in radotp's own log: it used to
 * say only reason "database_unavailable" on each decision, while /healthz (a SELECT 1) stayed 200, so the
 * cause was nowhere but in PostgreSQL's log.
 */
function logged() {
  const lines: { level: number; msg: string; err?: string; sqlstate?: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l)));
      done();
    },
  });
  return { lines, logger: createLogger('info', { destination: destination as never }) };
}

const request = { username: 'ria', password: Buffer.from('pw'), client: { name: 'nas', address: '127.0.0.1', loginStyle: 'challenge' as const } };

test('an error PostgreSQL sent (disk full) is logged with its message and SQLSTATE, once per 10 s, and the login is left unanswered', async () => {
  const { lines, logger } = logged();
  const diskFull = Object.assign(new Error('could not extend file "base/16384/16499": No space left on device'), { code: '53100' });
  const users = { find: async () => Promise.reject(diskFull) };
  const challenges = { take: async () => undefined, isLive: async () => false };
  const pipeline = new AuthPipeline(users, challenges, new Map(), internalErrorLog(logger));
  for (let i = 0; i < 3; i++) expect(await pipeline.decide(request)).toMatchObject({ kind: 'fail', reason: 'database_unavailable' });
  await new Promise((r) => setImmediate(r));
  expect(lines).toEqual([
    expect.objectContaining({ level: 40, sqlstate: '53100', err: expect.stringContaining('No space left on device') }),
  ]);
});

test('a lost connection is not logged per login: the health check and the connection pool already say the database is away', async () => {
  const { lines, logger } = logged();
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const users = { find: async () => Promise.reject(refused) };
  const challenges = { take: async () => undefined, isLive: async () => false };
  const pipeline = new AuthPipeline(users, challenges, new Map(), internalErrorLog(logger));
  expect(await pipeline.decide(request)).toMatchObject({ kind: 'fail', reason: 'database_unavailable' });
  await new Promise((r) => setImmediate(r));
  expect(lines).toEqual([]);
});
