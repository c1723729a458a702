import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { hashPassword } from '../../src/auth/password-hash';
import { hotpForCounter } from '../support/otp-codes';
import { cliFor, ok, refusalLine, userCount, type Cli } from '../support/pool-cli';
import { addPoolToken, adminOf, type PoolToken } from '../support/pool-tokens';
import { startTestServer, type TestServer } from '../support/server';
import { login, udpDriver } from '../support/two-step-login';

/*
 * `radotp user import FILE.csv` end to end: users created and updated, pool tokens assigned, all in
 * one transaction; a bad line anywhere imports nothing and is named by its line number; a dry run
 * writes nothing; and 100 000 lines within a minute.
 */

const HEADER = 'username,password,method,token_serial';

let t: TestServer;
let cli: Cli;
beforeAll(async () => {
  t = await startTestServer({ config: { auth: { defaultMethod: 'password' } } });
  cli = cliFor(t);
});
afterAll(() => t?.close());

let files = 0;
function csvFile(lines: string[]): string {
  const file = path.join(t.dir, `users-${++files}.csv`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** A name no other test uses (the database is shared by the whole file). */
const fresh = (name: string) => `${name}-${randomBytes(3).toString('hex')}`;

/** Everything an import could change, to show a refused one changed nothing. */
async function snapshot() {
  const users = await sql<{ username: string; method: string; password_hash: string | null }>`SELECT username, method, password_hash FROM app_user ORDER BY username`.execute(t.store.db);
  const tokens = await sql<{ serial: string; user_id: string | null; state: string }>`SELECT serial, user_id, state FROM token ORDER BY serial`.execute(t.store.db);
  return { users: users.rows, tokens: tokens.rows };
}

describe('a good file', () => {
  test('creates, updates and assigns; the imported user logs in with the password and the assigned token', async () => {
    const [alice, bob, carol] = [fresh('alice'), fresh('bob'), fresh('carol')];
    const bobHash = await hashPassword('bob old password');
    await t.store.users.add({ username: bob, passwordHash: bobHash, method: 'password' });
    const [t1, t2] = [await addPoolToken(t, { kind: 'hotp' }), await addPoolToken(t, { kind: 'hotp' })];

    const file = csvFile([HEADER, `${alice},alice pw,token,${t1.serial}`, `${bob},,token,`, `"${carol}",,,${t2.serial}`]);
    expect(await ok(cli, ['user', 'import', file])).toBe('created 2 user(s), updated 1, set 1 password(s), assigned 2 token(s)\n');

    const users = await Promise.all([alice, bob, carol].map((u) => t.store.users.get(u)));
    expect(users.map((u) => [u.username, u.method])).toEqual([
      [alice, 'token'],
      [bob, 'token'],
      [carol, 'password'], // auth.defaultMethod for a new user without a method
    ]);
    expect(users[1].passwordHash).toBe(bobHash); // an empty password keeps the one there
    expect(users[0].passwordHash).toMatch(/^\$argon2id\$/);
    for (const [token, owner] of [[t1, alice], [t2, carol]] as const) {
      expect(await t.store.tokens.get(token.serial)).toMatchObject({ username: owner, state: 'active' });
    }
    const reply = await login(udpDriver(t.port), alice, 'alice pw', hotpForCounter(t1.secret, t1.counter));
    expect(reply.reply).toBe('Access-Accept');
    // each user's own audit trail says what the import did to them (never the password)
    for (const [username, reason, token, detail] of [
      [alice, 'added', t1.serial, { authMethod: 'token', passwordSet: true, tokenAssigned: true }],
      [bob, 'changed', undefined, { authMethod: 'token', passwordSet: false, tokenAssigned: false }],
      [carol, 'added', t2.serial, { authMethod: 'password', passwordSet: false, tokenAssigned: true }],
    ] as const) {
      const rows = (await t.store.audit.recent({ username, limit: 10 })).filter((e) => e.method === 'user import');
      expect(rows.map((e) => ({ result: e.result, reason: e.reason, tokenSerial: e.tokenSerial, detail: e.detail }))).toEqual([
        { result: 'admin', reason, tokenSerial: token, detail: { file, ...detail, admin: expect.any(String) } },
      ]);
    }
    expect(JSON.stringify((await t.store.audit.recent({ limit: 100 })).map((e) => e.detail))).not.toContain('alice pw');
  });

  test('a line naming the token its user already has is fine and assigns nothing new', async () => {
    const dave = fresh('dave');
    const token = await addPoolToken(t, { kind: 'hotp' });
    await t.store.users.add({ username: dave, passwordHash: null, method: 'token' });
    await adminOf(t).assign(token.serial, dave);
    expect(await ok(cli, ['user', 'import', csvFile([HEADER, `${dave},,,${token.serial}`])])).toBe('created 0 user(s), updated 1, set 0 password(s), assigned 0 token(s)\n');
  });

  // as every token command (src/tokens/serial-lookup.ts): a serial read off a fob and typed in another case
  test('a token_serial typed in another case assigns the token whose serial matches it ignoring case', async () => {
    const erin = fresh('erin');
    const token = await addPoolToken(t, { kind: 'hotp' });
    const typed = token.serial.toLowerCase() === token.serial ? token.serial.toUpperCase() : token.serial.toLowerCase();
    expect(typed).not.toBe(token.serial);
    expect(await ok(cli, ['user', 'import', csvFile([HEADER, `${erin},,token,${typed}`])])).toBe('created 1 user(s), updated 0, set 0 password(s), assigned 1 token(s)\n');
    expect((await t.store.tokens.find(token.serial))?.username).toBe(erin);
  });

  test('a token_serial matching several tokens ignoring case, none exactly, imports nothing and names them', async () => {
    const base = `Case-${randomBytes(3).toString('hex')}`;
    for (const serial of [base.toUpperCase(), base.toLowerCase()]) {
      await t.store.tokens.create({ serial, userId: null, origin: 'hardware', kind: 'hotp', state: 'unassigned', algorithm: 'sha1', digits: 6, seed: randomBytes(20) });
    }
    const file = csvFile([HEADER, `${fresh('fay')},,token,${base}`]);
    const before = await snapshot();
    const line = refusalLine(await cli(['user', 'import', file]));
    expect(line).toContain(`line 2: token ${base} matches ${[base.toUpperCase(), base.toLowerCase()].sort().join(', ')} ignoring case`);
    expect(await snapshot()).toEqual(before);
  });

  test('two lines naming one token in different cases import nothing', async () => {
    const token = await addPoolToken(t, { kind: 'hotp' });
    const file = csvFile([HEADER, `${fresh('gus')},,token,${token.serial}`, `${fresh('hal')},,token,${token.serial.toLowerCase()}`]);
    const before = await snapshot();
    const line = refusalLine(await cli(['user', 'import', file]));
    expect(line).toContain(`line 3: token ${token.serial.toLowerCase()} is ${token.serial}, already given to another user on line 2`);
    expect(await snapshot()).toEqual(before);
  });

  test('--dry-run reports what would change and writes nothing; --json gives the same numbers', async () => {
    const token = await addPoolToken(t, { kind: 'totp' });
    const file = csvFile([HEADER, `${fresh('erin')},,token,${token.serial}`, `${fresh('frank')},,,`]);
    const before = await snapshot();
    expect(await ok(cli, ['user', 'import', file, '--dry-run'])).toBe('would create 2 user(s), update 0, set 0 password(s), assign 1 token(s) (dry run: nothing written)\n');
    expect(JSON.parse(await ok(cli, ['user', 'import', file, '--dry-run', '--json']))).toEqual({ created: 2, updated: 0, passwordsSet: 0, tokensAssigned: 1, dryRun: true });
    expect(await snapshot()).toEqual(before);
    expect(JSON.parse(await ok(cli, ['user', 'import', file, '--json']))).toEqual({ created: 2, updated: 0, passwordsSet: 0, tokensAssigned: 1, dryRun: false });
    expect((await t.store.tokens.get(token.serial)).state).toBe('active');
    // audited by the import that wrote, its summary and a row per user: the two dry runs left no row
    const imports = (await t.store.audit.recent({ limit: 1000 })).filter((e) => e.method === 'user import' && e.detail?.file === file);
    expect(imports.filter((e) => e.username === undefined).map((e) => [e.result, e.reason, e.detail?.created, e.detail?.tokensAssigned])).toEqual([['admin', 'imported', 2, 1]]);
    expect(imports.filter((e) => e.username !== undefined)).toHaveLength(2);
  });
});

describe('one bad line imports nothing and is named', () => {
  interface Ctx {
    /** Two good lines (a new user with a pool token, and one without): they must not be written either. */
    good: string;
    good2: string;
    /** The name on the bad line. */
    gina: string;
    /** Gina's password, where a row gives one: never in the refusal. */
    password: string;
    pool: PoolToken;
    taken: PoolToken;
    takenBy: string;
    disabled: PoolToken;
    /** A pool token whose validity ended at `expiredOn`. */
    expired: PoolToken;
    expiredOn: Date;
  }
  const ROWS: [string, (c: Ctx) => string[], number, (c: Ctx) => string][] = [
    ['unknown token', (c) => [HEADER, c.good, c.good2, `${c.gina},,token,NO-SUCH-TOKEN`], 4, () => 'token NO-SUCH-TOKEN does not exist'],
    ['token already assigned to someone else', (c) => [HEADER, c.good, c.good2, `${c.gina},,token,${c.taken.serial}`], 4, (c) => `token ${c.taken.serial} is already assigned to ${c.takenBy}`],
    ['disabled token', (c) => [HEADER, c.good, `${c.gina},,token,${c.disabled.serial}`, c.good2], 3, (c) => `token ${c.disabled.serial} is disabled`],
    // as `token assign`: logins never use a token past the end of its validity, so its user was refused every code
    ['token past its validity end', (c) => [HEADER, c.good, `${c.gina},,token,${c.expired.serial}`, c.good2], 3, (c) => `token ${c.expired.serial} expired on ${c.expiredOn.toISOString()} (the end of its validity): it would never log ${c.gina} in`],
    ['duplicate user', (c) => [HEADER, c.good, `${c.gina},,,`, c.good2, `${c.gina},,token,`], 5, (c) => `user "${c.gina}" already appears on line 3`],
    ['one token given twice', (c) => [HEADER, c.good, `${c.gina},,token,${c.pool.serial}`], 3, (c) => `token ${c.pool.serial} is already given to another user on line 2`],
    ['too few columns', (c) => [HEADER, c.good, c.good2, `${c.gina},,token`], 4, () => 'expected 4 fields, got 3'],
    ['too many columns', (c) => [HEADER, c.good, `${c.gina},,token,,extra`, c.good2], 3, () => 'expected 4 fields, got 5'],
    ['unknown method', (c) => [HEADER, c.good, `${c.gina},,sms,`, c.good2], 3, () => 'unknown method in column 3 (expected password, token; the value is not shown'],
    // a password holding a comma, not quoted: its end lands in the method column, which the refusal quoted
    ['a password with an unquoted comma', (c) => [HEADER, c.good, `${c.gina},s3cret,${c.password},`, c.good2], 3, () => 'unknown method in column 3 (expected password, token; the value is not shown'],
    ['bad header', (c) => ['user,password,method,token', c.good], 1, () => 'expected the header "username,password,method,token_serial": column 1 is not "username"'],
    // the first line is then a user's: the refusal quoted it, password and all
    ['no header', (c) => [`${c.gina},${c.password},token,`, c.good], 1, () => 'expected the header "username,password,method,token_serial": column 1 is not "username"'],
    ['separated by ;', (c) => [HEADER.replaceAll(',', ';'), `${c.gina};${c.password};token;`], 1, () => 'the first line has 1 comma-separated field(s), not 4'],
    ['no header, separated by ;', (c) => [`${c.gina};${c.password};token;`], 1, () => 'the first line has 1 comma-separated field(s), not 4'],
    ['unterminated quote', (c) => [HEADER, c.good, `"${c.gina},,token,`], 3, () => 'unterminated quoted field'],
  ];

  test.each(ROWS)('%s', async (_name, lines, lineNo, reason) => {
    const [pool, taken, disabled] = [await addPoolToken(t, { kind: 'hotp' }), await addPoolToken(t, { kind: 'hotp' }), await addPoolToken(t, { kind: 'hotp' })];
    const expiredOn = new Date(Date.now() - 60_000);
    const expired = await addPoolToken(t, { kind: 'hotp', validTo: expiredOn });
    const goodUser = fresh('good');
    const c: Ctx = { good: `${goodUser},,token,${pool.serial}`, good2: `${fresh('good2')},,,`, gina: fresh('gina'), password: fresh('gina-pw'), pool, taken, takenBy: fresh('owner'), disabled, expired, expiredOn };
    await t.store.users.add({ username: c.takenBy, passwordHash: null, method: 'token' });
    await adminOf(t).assign(taken.serial, c.takenBy);
    await adminOf(t).disable(disabled.serial, 'broken');
    const file = csvFile(lines(c));

    const before = await snapshot();
    const line = refusalLine(await cli(['user', 'import', file]));
    expect(line.startsWith(`radotp: ${file}: line ${lineNo}: `)).toBe(true);
    expect(line).toContain(reason(c));
    expect(line).not.toContain(c.password);
    expect(await snapshot()).toEqual(before);
    expect(before.users.map((u) => u.username)).not.toContain(goodUser);
  });
});

describe('scale', () => {
  const LINES = 100_000;

  test(
    `${LINES} lines, each a new user with a pool token, in under 60 s (empty passwords: no argon2 hashing)`,
    async () => {
      // The pool: 100 000 tokens inserted directly (what `token import` would have left).
      const prefix = `B${randomBytes(3).toString('hex')}-`;
      const serial = (i: number) => `${prefix}${i}`;
      const seed = randomBytes(20);
      for (let i = 0; i < LINES; i += 1000) {
        await t.store.tokens.insertMany(
          Array.from({ length: Math.min(1000, LINES - i) }, (_, j) => ({
            serial: serial(i + j),
            userId: null,
            origin: 'hardware' as const,
            kind: 'hotp' as const,
            state: 'unassigned' as const,
            algorithm: 'sha1' as const,
            digits: 6,
            seed,
          })),
        );
      }
      const lines = [HEADER];
      // Passwords left empty on purpose: argon2id costs ~50 ms a hash; this measures the import itself.
      for (let i = 0; i < LINES; i++) lines.push(`${prefix}user${i},,${i % 2 ? 'token' : ''},${serial(i)}`);
      const file = csvFile(lines);
      const usersBefore = await userCount(t.store);

      const started = process.hrtime.bigint();
      const out = await ok(cli, ['user', 'import', file]);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      process.stdout.write(`user import: ${LINES} lines in ${seconds.toFixed(1)} s (wall time of the radotp process)\n`);

      expect(out).toBe(`created ${LINES} user(s), updated 0, set 0 password(s), assigned ${LINES} token(s)\n`);
      expect(await userCount(t.store)).toBe(usersBefore + LINES);
      const assigned = await sql<{ n: string }>`
        SELECT count(*) AS n FROM token JOIN app_user u ON u.id = token.user_id
        WHERE token.serial LIKE ${prefix + '%'} AND token.state = 'active' AND u.username = ${prefix} || 'user' || substr(token.serial, ${prefix.length + 1})`.execute(t.store.db);
      expect(Number(assigned.rows[0].n)).toBe(LINES);
      expect(seconds).toBeLessThan(60);
    },
    180_000,
  );
});
