import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../../src/store/open';
import { runCli } from '../support/cli';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * `token show` / `token list` say whether a token is locked by the database's clock, as `token list --locked`
 * (its filter is the database's now()), `token verify` and every node decide it (see DatabaseClock). They read
 * the lock against the admin machine's wall clock: an hour ahead, `token list --locked` listed a token with an
 * empty LOCKED UNTIL and `token show` said it was not locked; an hour behind, a lock that had run out for the
 * servers was still shown.
 */

let db: TestDatabase;
let root: string;
let store: Store;
let configFile: string;

beforeAll(async () => {
  db = await createTestDatabase();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-lock-clock-'));
  const c = testConfig(root, db.url, { keyFile: path.join(root, 'master.key') });
  configFile = c.file;
  store = await openStore(c.cfg, { createKey: true, migrate: true, poolSize: 2 });
}, 60_000);

afterAll(async () => {
  await store?.close();
  await db?.drop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** A pool token locked by the database's now() for `lockSeconds`. */
async function lockedToken(serial: string, lockSeconds: number): Promise<void> {
  const t = await store.tokens.create({ serial, userId: null, origin: 'hardware', kind: 'hotp', state: 'unassigned', algorithm: 'sha1', digits: 6, seed: randomBytes(20) });
  await store.tokens.recordFailure([t.id], [randomBytes(32)], 1, lockSeconds);
}

/** `radotp ARGS` on a machine whose wall clock is `skewMs` off. */
async function cliSkewed(skewMs: number, args: string[]) {
  const preload = path.join(root, `skew${skewMs}.js`);
  fs.writeFileSync(preload, `const real = Date.now; Date.now = () => real() + ${skewMs};\n`);
  const r = await runCli(args, { env: { RADOTP_CONFIG: configFile, NODE_OPTIONS: `--require ${preload}` } });
  expect(r.stderr).toBe('');
  return r.stdout;
}

test('a token locked by the database clock is shown locked by a CLI whose clock runs an hour ahead', async () => {
  await lockedToken('LOCK-AHEAD', 600);
  const shown = JSON.parse(await cliSkewed(3_600_000, ['token', 'show', 'LOCK-AHEAD', '--json']));
  expect(shown.lockedUntil).not.toBeNull();
  const listed = JSON.parse(await cliSkewed(3_600_000, ['token', 'list', '--locked', '--json'])) as { serial: string; lockedUntil: string | null }[];
  expect(listed.map((t) => [t.serial, t.lockedUntil !== null])).toEqual([['LOCK-AHEAD', true]]);
}, 60_000);

test('a lock run out by the database clock is no lock for a CLI whose clock runs an hour behind', async () => {
  await lockedToken('LOCK-OVER', 1);
  await new Promise((r) => setTimeout(r, 1500));
  const shown = JSON.parse(await cliSkewed(-3_600_000, ['token', 'show', 'LOCK-OVER', '--json']));
  expect(shown.lockedUntil).toBeNull();
}, 60_000);
