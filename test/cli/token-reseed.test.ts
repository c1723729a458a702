import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliIn, linesOf } from '../support/cli';
import { hotpForCounter } from '../support/otp-codes';
import { PSKC_ALG, randomSerial, writePskcFile, type GeneratedKey } from '../support/pskc-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A reprogrammable hardware token (Token2 programmable, a YubiKey OATH slot) as its admin meets it: the serial
 * stays, the seed is replaced. Deleted and imported again with its NEW seed, the token must take the codes its
 * device shows from counter 0; imported again with its OLD seed (the vendor's file once more), the codes it
 * showed before stay used (RFC 4226 §7.2). Real `radotp` processes against a fresh database; the steps build
 * on each other and run in order.
 */

let db: TestDatabase;
let dir: string;
const serial = randomSerial('RESEED-');
const key = (secret: Buffer): GeneratedKey => ({ serial, algorithm: PSKC_ALG.hotp, digits: 6, secret, counter: 0n, manufacturer: 'Token2' });
const firstSecret = randomBytes(20);
const newSecret = randomBytes(20);
let firstFile: string;
let newFile: string;

const { radotp, ok } = cliIn(() => ({ cwd: dir, databaseUrl: db.url }));

/** `token verify`: accepted, or the one-line reason it was not. */
async function verify(secret: Buffer, counter: number): Promise<string> {
  const r = await radotp(['token', 'verify', serial, hotpForCounter(secret, counter)]);
  return r.code === 0 ? r.stdout.trim() : linesOf(r.stderr).join(' | ');
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-reseed-'));
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nkeyFile: ./data/master.key\nlog:\n  level: silent\n');
  firstFile = writePskcFile(dir, [key(firstSecret)], { kind: 'plain' });
  newFile = writePskcFile(dir, [key(newSecret)], { kind: 'plain' });
  await ok(['init']);
  await ok(['user', 'add', 'carol', '--method', 'token']);
});
afterAll(async () => {
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the first seed: imported, assigned, three codes used', async () => {
  expect(await ok(['token', 'import', firstFile])).toBe('imported 1 token(s) (1 hotp) into the pool\n');
  await ok(['token', 'assign', serial, 'carol']);
  for (const counter of [0, 1, 2]) expect(await verify(firstSecret, counter)).toBe('code accepted');
  await ok(['token', 'delete', serial]);
});

test('reprogrammed with a new seed: imported again under the serial, its counter-0 code is accepted', async () => {
  const imported = await ok(['token', 'import', newFile]);
  await ok(['token', 'assign', serial, 'carol']);
  expect(await verify(newSecret, 0)).toBe('code accepted');
  await ok(['token', 'delete', serial]);
  expect(imported).toBe('imported 1 token(s) (1 hotp) into the pool\n' + `deleted earlier, now with a new seed: starts at the counter of the file: ${serial}\n`);
});

test("the first seed's file imported again: its used codes stay used, the next one is accepted", async () => {
  const r = await radotp(['token', 'import', firstFile, '--json']);
  expect(JSON.parse(r.stdout)).toMatchObject({ imported: 1, replayStateKept: [serial], replayStateNewSeed: [] });
  await ok(['token', 'assign', serial, 'carol']);
  for (const counter of [0, 1, 2]) expect(await verify(firstSecret, counter)).toBe('radotp: code rejected (replay)');
  expect(await verify(firstSecret, 3)).toBe('code accepted');
});
