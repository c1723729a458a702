import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliIn } from '../support/cli';
import { hotpKey, writePskcFile } from '../support/pskc-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * Two days of a token administrator: a user leaves the company, a token is reported stolen. Real `radotp`
 * processes against a fresh database.
 *  - `user remove` said "user frank removed" and nothing of his tokens: which fobs to collect back into the
 *    pool, that the stolen one stays disabled there, and that his app's token is gone (the audit trail had it).
 *  - `token enable` of a token disabled as stolen put it back in the pool as ready to hand out, nothing said:
 *    whoever holds the stolen fob makes its codes, for whoever is given it next.
 *  - A token reported lost, then known to be stolen: `token disable --reason stolen` was refused ("already
 *    disabled (lost)"), and the only way to the right reason was `token enable` first, the token usable by
 *    logins meanwhile. The reason (and note) of a disabled token can now be changed by disabling it again.
 */

let db: TestDatabase;
let dir: string;
const [kept, stolen, other, lostThenStolen] = [hotpKey(), hotpKey(), hotpKey(), hotpKey()];

const { radotp, ok } = cliIn(() => ({ cwd: dir, databaseUrl: db.url }));

beforeAll(async () => {
  db = await createTestDatabase();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-leaver-'));
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./data\nkeyFile: ./data/master.key\nlog:\n  level: silent\n');
  await ok(['init']);
  await ok(['token', 'import', writePskcFile(dir, [kept, stolen, other, lostThenStolen], { kind: 'plain' })]);
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

test('token disable of a disabled token with another reason changes the reason and note, audited; the same reason is refused', async () => {
  const serial = lostThenStolen.serial;
  await ok(['token', 'disable', serial, '--reason', 'lost', '--note', 'left at the gym?']);
  expect(await ok(['token', 'disable', serial, '--reason', 'stolen', '--note', 'police report 4711'])).toBe(`token ${serial} disabled (stolen; was lost)\n`);
  expect(JSON.parse(await ok(['token', 'show', serial, '--json']))).toMatchObject({ state: 'disabled', disabledReason: 'stolen', disabledNote: 'police report 4711' });
  const rows = (JSON.parse(await ok(['audit', '--json', '--limit', '5'])) as { tokenSerial: string; method: string; reason: string; detail: unknown }[])
    .filter((r) => r.tokenSerial === serial)
    .map((r) => [r.method, r.reason, r.detail]);
  expect(rows).toEqual([
    ['token disable', 'disabled', expect.objectContaining({ disabledReason: 'stolen', disabledReasonBefore: 'lost' })],
    ['token disable', 'disabled', expect.objectContaining({ disabledReason: 'lost' })],
  ]);

  const again = await radotp(['token', 'disable', serial, '--reason', 'stolen']);
  expect({ code: again.code, stdout: again.stdout, stderr: again.stderr }).toEqual({ code: 1, stdout: '', stderr: `radotp: token ${serial} is already disabled (stolen)\n` });
});
