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

/*
 * A statement that outlived database.queryTimeout (a lock held by another session, a slow query) or a wait for
 * a pooled connection that ran out has no SQLSTATE: it was logged nowhere above info, so an operator reading
 * warnings saw nothing while every login went unanswered. One warning per 10 s naming the setting to look at.
 */
test.each([
  ['a statement outlived the query timeout', new Error('Query read timeout'), 'database.queryTimeout', '2s'],
  ['no pooled connection came free in time', new Error('timeout exceeded when trying to connect'), 'database.poolSize', 3],
])('%s: one warning per 10 s naming %s, nothing of the login', async (_case, error, setting, value) => {
  const { lines, logger } = logged();
  const users = { find: async () => Promise.reject(error) };
  const challenges = { take: async () => undefined, isLive: async () => false };
  const pipeline = new AuthPipeline(users, challenges, new Map(), internalErrorLog(logger, { queryTimeout: 2, poolSize: 3 }));
  for (let i = 0; i < 3; i++) expect(await pipeline.decide({ ...request, password: Buffer.from('s3cret-pw') })).toMatchObject({ kind: 'fail' });
  await new Promise((r) => setImmediate(r));
  expect(lines).toEqual([expect.objectContaining({ level: 40, setting, value })]);
  expect(JSON.stringify(lines)).not.toContain('s3cret-pw');
});
