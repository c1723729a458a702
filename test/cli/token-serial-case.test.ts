import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { connect, type Connection } from '../../src/store/connect';
import { cliIn, linesOf } from '../support/cli';
import { hotpForCounter } from '../support/otp-codes';
import { hotpKey, writePskcFile, type GeneratedKey } from '../support/pskc-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * Serials printed on a fob are read off it and typed: `gal12345678` for `GAL12345678` was "no such token". The
 * CLI finds a token by its serial ignoring case when exactly one token matches so (an exact match first); when
 * several differ only by case it names them and does nothing. An import refuses a serial that differs only by
 * case from one in radotp, or from another in the file: two such tokens are one serial to whoever types it.
 * Real `radotp` processes against a fresh database.
 */

let db: TestDatabase;
let conn: Connection;
let dir: string;
const key: GeneratedKey = { ...hotpKey({ counter: 0n }), serial: `GAL${process.pid}A` };
const typed = key.serial.toLowerCase();

const { radotp, ok } = cliIn(() => ({ cwd: dir, databaseUrl: db.url }));

/** Exit code and what it printed, one line. */
async function run(args: string[]): Promise<[number | null, string]> {
  const r = await radotp(args);
  return [r.code, linesOf(r.stdout + r.stderr).join(' | ')];
}

beforeAll(async () => {
  db = await createTestDatabase();
  conn = connect(db.url, { poolSize: 1 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-serial-case-'));
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nkeyFile: ./data/master.key\nlog:\n  level: silent\n');
  await ok(['init']);
  await ok(['user', 'add', 'erin', '--method', 'token']);
  await ok(['token', 'import', writePskcFile(dir, [key], { kind: 'plain' })]);
});
afterAll(async () => {
  await conn?.close();
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// Each command typed with the serial in lower case; what it says names the token by its real serial.
// In order: each row starts from the state the one before left.
const ROWS: [string[], string][] = [
  [['token', 'show', typed, '--json'], `"serial": "${key.serial}"`],
  [['token', 'verify', typed, hotpForCounter(key.secret, 0)], 'code accepted'],
  [['token', 'describe', typed, 'box 4'], `token ${key.serial} described`],
  [['token', 'assign', typed, 'erin'], `token ${key.serial} assigned to erin`],
  [['token', 'resync', typed, hotpForCounter(key.secret, 40), hotpForCounter(key.secret, 41)], `token ${key.serial} resynchronised (counter 42)`],
  [['token', 'disable', typed, '--reason', 'lost'], `token ${key.serial} disabled (lost)`],
  [['token', 'enable', typed], `token ${key.serial} enabled (active)`],
  [['token', 'unlock', typed], `token ${key.serial} unlocked`],
  [['token', 'unassign', typed], `token ${key.serial} returned to the pool`],
];

test.each(ROWS)('radotp %j finds the token', async (args, said) => {
  const [code, out] = await run(args);
  expect(code).toBe(0);
  expect(out).toContain(said);
});

test('an import refuses a serial differing only by case from one in radotp, and one twice in its file so', async () => {
  const upper = { ...hotpKey(), serial: key.serial.toLowerCase() };
  const [code, out] = await run(['token', 'import', writePskcFile(dir, [upper], { kind: 'plain' })]);
  expect(code).toBe(1);
  expect(out).toMatch(
    new RegExp(`: key 0 \\(serial ${upper.serial}\\), line \\d+: serial ${upper.serial} differs only by case from ${key.serial}, already in radotp; nothing imported$`),
  );

  const a = { ...hotpKey(), serial: `Twice${process.pid}` };
  const b = { ...hotpKey(), serial: a.serial.toUpperCase() };
  const [code2, out2] = await run(['token', 'import', writePskcFile(dir, [a, b], { kind: 'plain' })]);
  expect(code2).toBe(1);
  expect(out2).toMatch(new RegExp(`: key 1 \\(serial ${b.serial}\\), line \\d+: serial ${b.serial} differs only by case from ${a.serial}, earlier in the file; nothing imported$`));
  expect((await run(['token', 'show', a.serial]))[0]).toBe(1);
});

test('an exact match wins; several matching only ignoring case are named, and nothing is done', async () => {
  // Two such serials can exist (imported by an older release, or by plain SQL): the CLI must not pick one.
  const other = { ...hotpKey(), serial: `Dup${process.pid}x` };
  await ok(['token', 'import', writePskcFile(dir, [other], { kind: 'plain' })]);
  await sql`INSERT INTO token (serial, origin, kind, state, algorithm, digits, seed_sealed)
            SELECT upper(serial), origin, kind, state, algorithm, digits, seed_sealed FROM token WHERE serial = ${other.serial}`.execute(conn.db);
  const upper = other.serial.toUpperCase();

  expect(JSON.parse(await ok(['token', 'show', other.serial, '--json'])).serial).toBe(other.serial);
  expect(JSON.parse(await ok(['token', 'show', upper, '--json'])).serial).toBe(upper);

  const [code, out] = await run(['token', 'disable', other.serial.toLowerCase(), '--reason', 'stolen']);
  expect([code, out]).toEqual([1, `radotp: serial "${other.serial.toLowerCase()}" matches ${upper}, ${other.serial} ignoring case: type it exactly`]);
  const states = await sql<{ state: string }>`SELECT state FROM token WHERE lower(serial) = lower(${other.serial})`.execute(conn.db);
  expect(states.rows.map((r) => r.state)).toEqual(['unassigned', 'unassigned']);

  expect(await run(['token', 'show', 'NO-SUCH'])).toEqual([1, 'radotp: no token with serial "NO-SUCH"']);
});
