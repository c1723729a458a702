import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliIn } from '../support/cli';
import { hotpKey, writePskcFile } from '../support/pskc-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * `token describe SERIAL ""`, the one way to take a note off a token, stored an empty description: `token show`
 * printed an empty field where a token without one shows "-", and --json "" where README promises null for a
 * field with no value. An empty text now clears the description. Real `radotp` processes, a fresh database.
 */

let db: TestDatabase;
let dir: string;
const key = hotpKey();

const { ok } = cliIn(() => ({ cwd: dir, databaseUrl: db.url }));

beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-describe-'));
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nkeyFile: ./data/master.key\nlog:\n  level: silent\n');
  await ok(['init']);
  await ok(['token', 'import', writePskcFile(dir, [key], { kind: 'plain' })]);
});
afterAll(async () => {
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('an empty description clears it: null in --json, "-" in token show', async () => {
  const description = async () => (JSON.parse(await ok(['token', 'show', key.serial, '--json'])) as { description: unknown }).description;
  expect(await description()).toBeNull();
  expect(await ok(['token', 'describe', key.serial, 'shelf B'])).toBe(`token ${key.serial} described\n`);
  expect(await description()).toBe('shelf B');
  expect(await ok(['token', 'describe', key.serial, ''])).toBe(`token ${key.serial}: description cleared\n`);
  expect(await description()).toBeNull();
  expect(await ok(['token', 'show', key.serial])).toMatch(/^description: +-$/m);
});
