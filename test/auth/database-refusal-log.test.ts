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
/*
 * A DBA's own timeouts (statement_timeout, lock_timeout set on the role or the database) and a cancel request end
 * the statement with SQLSTATE 57014 or 55P03. Those were an 'internal error while deciding' with a stack trace
 * (reason internal_error): the one on call looked for a bug of radotp's, or at database.queryTimeout, when the
 * cause was a setting of PostgreSQL's. The warning names that setting and the SQLSTATE.
 */
const fromPostgres = (code: string, message: string) => Object.assign(new Error(message), { code });

// [case, error, decision's reason, setting named, its value, words the warning must say]
const timeouts: [string, Error, string, string, unknown, RegExp][] = [
  ['a statement outlived the query timeout', new Error('Query read timeout'), 'database_timeout', 'database.queryTimeout', '2s', /within database\.queryTimeout/],
  ['no pooled connection came free in time', new Error('timeout exceeded when trying to connect'), 'database_pool_exhausted', 'database.poolSize', 3, /database\.poolSize too small/],
  [
    "PostgreSQL's statement_timeout ran out",
    fromPostgres('57014', 'canceling statement due to statement timeout'),
    'database_timeout',
    'statement_timeout',
    undefined,
    /^PostgreSQL canceled .*\(SQLSTATE 57014: statement_timeout, or a cancel request\).*not database\.queryTimeout/,
  ],
  ['a cancel request (pg_cancel_backend)', fromPostgres('57014', 'canceling statement due to user request'), 'database_timeout', 'statement_timeout', undefined, /SQLSTATE 57014/],
  [
    "PostgreSQL's lock_timeout ran out",
    fromPostgres('55P03', 'canceling statement due to lock timeout'),
    'database_timeout',
    'lock_timeout',
    undefined,
    /^PostgreSQL's lock_timeout ran out \(SQLSTATE 55P03\).*not database\.queryTimeout/,
  ],
];

test.each(timeouts)('%s: one warning per 10 s naming the setting, nothing of the login', async (_case, error, reason, setting, value, says) => {
  const { lines, logger } = logged();
  const users = { find: async () => Promise.reject(error) };
  const challenges = { take: async () => undefined, isLive: async () => false };
  const pipeline = new AuthPipeline(users, challenges, new Map(), internalErrorLog(logger, { queryTimeout: 2, poolSize: 3 }));
  for (let i = 0; i < 3; i++) expect(await pipeline.decide({ ...request, password: Buffer.from('s3cret-pw') })).toMatchObject({ kind: 'fail', reason });
  await new Promise((r) => setImmediate(r));
  expect(lines).toEqual([expect.objectContaining({ level: 40, setting, err: error.message, ...(value === undefined ? {} : { value }) })]);
  expect(lines[0]?.msg).toMatch(says);
  expect(JSON.stringify(lines)).not.toContain('s3cret-pw');
});
