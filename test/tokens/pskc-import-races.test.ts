import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Store } from '../../src/store/open';
import { importPskcFile } from '../../src/tokens/pskc-import';
import { hotpKey, writePskcFile } from '../support/pskc-fixtures';
import { cluster, outcomes, type Cluster } from './race-support';

/*
 * Two admins import PSKC files that share a serial, at the same moment (as `radotp token import` does: the
 * import and its audit row in one transaction). All or nothing per file: one imports whole; the other
 * imports nothing and says which serial is already there, or, with --skip-existing, skips just that one.
 * Before, both passed the check for existing serials, and the second died on the unique index with
 * PostgreSQL's 'duplicate key value violates unique constraint "token_serial_key"', --skip-existing or not.
 */
let c: Cluster;
let dir: string;
beforeAll(async () => {
  c = await cluster(2);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-import-race-'));
});
afterAll(async () => {
  await c.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const run = (store: Store, file: string, skipExisting: boolean) =>
  store.transaction((tx) => importPskcFile(tx.db, tx.tokens, file, {}, { dryRun: false, skipExisting }));

async function present(serials: string[]): Promise<string[]> {
  const rows = await c.nodes[0].db.selectFrom('token').select('serial').where('serial', 'in', serials).execute();
  return rows.map((r) => r.serial).sort();
}

test('overlapping files at once, 10 times: one imports whole, the other nothing, naming the shared serial', async () => {
  for (let i = 0; i < 10; i++) {
    const [only1, shared, only2] = [hotpKey(), hotpKey(), hotpKey()];
    const files = [writePskcFile(dir, [only1, shared], { kind: 'plain' }), writePskcFile(dir, [shared, only2], { kind: 'plain' })];
    const done = await outcomes(run(c.nodes[0], files[0], false), run(c.nodes[1], files[1], false));
    expect(done.filter((d) => d.ok)).toHaveLength(1);
    const loser = done.findIndex((d) => !d.ok);
    expect(done[loser].error).toMatch(new RegExp(`serial ${shared.serial} is already in radotp`));
    const winnerOwn = loser === 0 ? only2 : only1;
    expect(await present([only1.serial, shared.serial, only2.serial])).toEqual([winnerOwn.serial, shared.serial].sort());
  }
}, 60_000);

test('with --skip-existing, 10 times: both succeed, the shared serial imported once and skipped once', async () => {
  for (let i = 0; i < 10; i++) {
    const keys = [hotpKey(), hotpKey(), hotpKey()];
    const files = [writePskcFile(dir, [keys[0], keys[1]], { kind: 'plain' }), writePskcFile(dir, [keys[1], keys[2]], { kind: 'plain' })];
    const done = await outcomes(run(c.nodes[0], files[0], true), run(c.nodes[1], files[1], true));
    expect(done.map((d) => d.error)).toEqual([undefined, undefined]);
    const summaries = done.map((d) => d.value as { imported: number; skippedExisting: number });
    expect(summaries.map((s) => s.imported).sort()).toEqual([1, 2]);
    expect(summaries.map((s) => s.skippedExisting).sort()).toEqual([0, 1]);
    expect(await present(keys.map((k) => k.serial))).toEqual(keys.map((k) => k.serial).sort());
  }
}, 60_000);
