import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, type CliResult } from '../support/cli';
import { hotpKey, writePskcFile } from '../support/pskc-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * Two days of a token administrator: a user leaves the company, a token is reported stolen. Real `radotp`
 * processes against a fresh database.
 *  - `user remove` said "user frank removed" and nothing of his tokens: which fobs to collect back into the
 *    pool, that the stolen one stays disabled there, and that his app's token is gone (the audit trail had it).
 *  - `token enable` of a token disabled as stolen put it back in the pool as ready to hand out, nothing said:
 *    whoever holds the stolen fob makes its codes, for whoever is given it next.
 */

let db: TestDatabase;
let dir: string;
const [kept, stolen, other] = [hotpKey(), hotpKey(), hotpKey()];

function radotp(args: string[]): Promise<CliResult> {
  return runCli(args, { cwd: dir, env: { RADOTP_DATABASE_URL: db.url }, timeoutMs: 60_000 });
}

async function ok(args: string[]): Promise<string> {
  const r = await radotp(args);
  if (r.code !== 0 || r.stderr !== '') throw new Error(`radotp ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-leaver-'));
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nkeyFile: ./data/master.key\nlog:\n  level: silent\n');
  await ok(['init']);
  await ok(['token', 'import', writePskcFile(dir, [kept, stolen, other], { kind: 'plain' })]);
});
afterAll(async () => {
  await db?.drop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('user remove names each token it returned to the pool (a disabled one still disabled) and each it deleted', async () => {
  await ok(['user', 'add', 'frank', '--method', 'token']);
  await ok(['token', 'assign', kept.serial, 'frank']);
  await ok(['token', 'assign', stolen.serial, 'frank']);
  await ok(['token', 'disable', stolen.serial, '--reason', 'stolen', '--note', 'car break-in']);
  const app = JSON.parse(await ok(['token', 'enroll', 'frank', '--json'])) as { serial: string };

  const pooled = [kept, stolen].map((k) => k.serial).sort();
  const said = {
    [kept.serial]: `token ${kept.serial} returned to the pool`,
    [stolen.serial]: `token ${stolen.serial} returned to the pool, still disabled (stolen): enable it before handing it out again`,
  };
  expect(await ok(['user', 'remove', 'frank'])).toBe(['user frank removed', `token ${app.serial} deleted (a software token)`, ...pooled.map((s) => said[s])].join('\n') + '\n');

  // a user with no token: the one line
  await ok(['user', 'add', 'gina', '--method', 'token']);
  expect(await ok(['user', 'remove', 'gina'])).toBe('user gina removed\n');
});

test('token enable of a token disabled as stolen warns that whoever holds it makes its codes', async () => {
  await ok(['token', 'disable', other.serial, '--reason', 'stolen']);
  const r = await radotp(['token', 'enable', other.serial]);
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
    code: 0,
    stdout: `token ${other.serial} enabled (unassigned)\n`,
    stderr: `radotp: warning: token ${other.serial} was disabled as stolen: whoever holds it can make its codes; hand it out again only once it is back in your hands\n`,
  });
  // other reasons: nothing to warn of
  await ok(['token', 'disable', other.serial, '--reason', 'broken']);
  expect(await ok(['token', 'enable', other.serial])).toBe(`token ${other.serial} enabled (unassigned)\n`);
});
