import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliIn, linesOf } from '../support/cli';
import { awayFromStepBoundary, currentStep, hotpForCounter, totpForStep } from '../support/otp-codes';
import { hotpKey, totpKey, writePskcFile, type GeneratedKey } from '../support/pskc-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * An admin checks a hardware token out of the box before handing it out (a dead battery, a wrong seed in the
 * vendor's file): `token verify` on a token in the pool. It was refused ("is unassigned; only active tokens
 * verify codes"). The check is a verify like any other: a right code counts as used (the replay state moves
 * on, so the code is refused once the token is handed out), a wrong one toward the lockout, and it is audited;
 * the token stays in the pool, usable by no login. A pending token is activated instead, and a disabled one
 * checks no code (as at a login). Real `radotp` processes against a fresh database.
 */

let db: TestDatabase;
let dir: string;
const hotp = hotpKey({ counter: 7n });
const totp = totpKey();
const hotpCode = (counter: bigint) => hotpForCounter(hotp.secret, counter);

const { radotp, ok } = cliIn(() => ({ cwd: dir, databaseUrl: db.url }));

/** `token verify`: exit code and what it printed, one line. */
async function verify(serial: string, code: string): Promise<[number | null, string]> {
  const r = await radotp(['token', 'verify', serial, code]);
  return [r.code, linesOf(r.stdout + r.stderr).join(' | ')];
}

async function shown(serial: string): Promise<Record<string, unknown>> {
  return JSON.parse(await ok(['token', 'show', serial, '--json']));
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-pool-verify-'));
  // three wrong codes lock a token, so a test reaches the lock in a few commands
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nkeyFile: ./data/master.key\nlog:\n  level: silent\nauth:\n  lockout:\n    maxFailures: 3\n');
  await ok(['init']);
  await ok(['user', 'add', 'dave', '--method', 'token']);
  await ok(['token', 'import', writePskcFile(dir, [hotp, totp] as GeneratedKey[], { kind: 'plain' })]);
});
afterAll(async () => {
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('HOTP in the pool: a right code is accepted and spent, a wrong one counted; the token stays in the pool', async () => {
  expect(await verify(hotp.serial, hotpCode(7n))).toEqual([0, 'code accepted']);
  expect(await shown(hotp.serial)).toMatchObject({ state: 'unassigned', user: null, counter: 8, failCount: 0 });
  expect(await verify(hotp.serial, hotpCode(7n))).toEqual([1, 'radotp: code rejected (replay)']);
  const wrong = hotpCode(7n) === '000000' ? '111111' : '000000';
  expect(await verify(hotp.serial, wrong)).toEqual([1, 'radotp: code rejected (bad code)']);
  expect(await shown(hotp.serial)).toMatchObject({ state: 'unassigned', user: null, counter: 8, failCount: 1 });

  // each check is in the audit trail under the serial, with no user (the token has none)
  const rows = (JSON.parse(await ok(['audit', '--json', '--limit', '10'])) as { tokenSerial: string; method: string; result: string; reason: string; username: string | null }[])
    .filter((r) => r.tokenSerial === hotp.serial && r.method === 'token verify')
    .map((r) => [r.result, r.reason, r.username ?? null]);
  expect(rows).toEqual([
    ['reject', 'bad_code', null],
    ['reject', 'replay', null],
    ['accept', 'code_ok', null],
  ]);

  // handed out, the code checked in the pool stays used; the next one logs the user in
  await ok(['token', 'assign', hotp.serial, 'dave']);
  expect(await verify(hotp.serial, hotpCode(7n))).toEqual([1, 'radotp: code rejected (replay)']);
  expect(await verify(hotp.serial, hotpCode(8n))).toEqual([0, 'code accepted']);
});

test('TOTP in the pool: the code of now is accepted once, and the token stays in the pool', async () => {
  await awayFromStepBoundary(10);
  const step = currentStep();
  const code = totpForStep(totp.secret, step);
  expect(await verify(totp.serial, code)).toEqual([0, 'code accepted']);
  expect(await verify(totp.serial, code)).toEqual([1, 'radotp: code rejected (replay)']);
  expect(await shown(totp.serial)).toMatchObject({ state: 'unassigned', user: null, lastStep: step });
});

// [the token's state, the refusal] — nothing is spent or counted
const REFUSED: [string, (serial: string) => Promise<void>, (serial: string) => string][] = [
  [
    'disabled in the pool',
    async (serial) => void (await ok(['token', 'disable', serial, '--reason', 'broken'])),
    (serial) => `radotp: token ${serial} is disabled (broken): it checks no codes; \`radotp token enable ${serial}\` puts it back in the pool, where verify checks it`,
  ],
  [
    'disabled, assigned',
    async (serial) => {
      await ok(['token', 'assign', serial, 'dave']);
      await ok(['token', 'disable', serial, '--reason', 'stolen']);
    },
    (serial) => `radotp: token ${serial} is disabled (stolen): it checks no codes, as at a login`,
  ],
];

test.each(REFUSED)('%s: refused, nothing spent', async (_state, prepare, refusal) => {
  const key = hotpKey({ counter: 3n });
  await ok(['token', 'import', writePskcFile(dir, [key], { kind: 'plain' })]);
  await prepare(key.serial);
  const before = await shown(key.serial);
  expect(await verify(key.serial, hotpForCounter(key.secret, 3n))).toEqual([1, refusal(key.serial)]);
  expect(await shown(key.serial)).toEqual(before);
});

test('a pending token is activated, not verified: the refusal says how', async () => {
  const enrolled = JSON.parse(await ok(['token', 'enroll', 'dave', '--type', 'hotp', '--json'])) as { serial: string };
  expect(await verify(enrolled.serial, '123456')).toEqual([
    1,
    `radotp: token ${enrolled.serial} is pending: activate it with a code the app shows now (radotp token activate ${enrolled.serial} CODE)`,
  ]);
  expect(await shown(enrolled.serial)).toMatchObject({ state: 'pending', failCount: 0 });
});

// Wrong codes typed while checking a fob in the pool lock it like any token; handed out so, its new user was
// refused every code until the lock ran out, and `token assign` said nothing. It says so now (the assignment
// stands: the lock runs out, or `token unlock` clears it), as it warns of a user asked for no code.
test('token assign of a token locked by wrong codes warns, naming the end of the lock and the way out', async () => {
  const key = hotpKey({ counter: 0n });
  await ok(['token', 'import', writePskcFile(dir, [key], { kind: 'plain' })]);
  const wrong = ['000000', '111111', '222222', '333333'].find((c) => c !== hotpForCounter(key.secret, 0n))!;
  for (const c of [wrong, `${wrong.slice(0, 5)}${(Number(wrong[5]) + 1) % 10}`, `${wrong.slice(0, 5)}${(Number(wrong[5]) + 2) % 10}`]) await verify(key.serial, c);
  const lockedUntil = (await shown(key.serial)).lockedUntil as string;
  expect(lockedUntil).toEqual(expect.any(String));
  // 'code rejected (locked)' said neither until when nor the way out
  expect(await verify(key.serial, hotpForCounter(key.secret, 0n))).toEqual([
    1,
    `radotp: code rejected (locked until ${lockedUntil} after wrong codes; \`radotp token unlock ${key.serial}\` clears the lock)`,
  ]);
  const r = await radotp(['token', 'assign', key.serial, 'dave']);
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
    code: 0,
    stdout: `token ${key.serial} assigned to dave\n`,
    stderr: `radotp: warning: token ${key.serial} is locked until ${lockedUntil} after wrong codes: dave's codes are refused until then; \`radotp token unlock ${key.serial}\` clears the lock\n`,
  });
});
