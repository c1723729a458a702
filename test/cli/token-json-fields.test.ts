import fs from 'node:fs';
import path from 'node:path';
import { tokenView } from '../../cli/commands/token';
import type { TokenWithSeed } from '../../src/store/tokens';
import type { TokenImportSummary } from '../../src/tokens/pskc-import';

/*
 * Scripts read `token list --json`, `token show --json` and `token import --json`: README lists their fields,
 * and the list must be the fields printed, both ways. A field printed for one kind of token only (period for
 * TOTP, counter for HOTP and OCRA) is listed once. No seed, whatever the view is made from.
 */

const README = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

/** The `field` names in the first column of the table under the heading `heading`. */
function fieldsUnder(heading: string): string[] {
  const section = README.split(`\n${heading}\n`)[1];
  if (section === undefined) return [];
  const table = section.split('\n\n').map((block) => block.trim()).find((block) => block.startsWith('| field |')) ?? '';
  return table
    .split('\n')
    .slice(2)
    .map((row) => /^\| `([A-Za-z]+)` \|/.exec(row)?.[1] ?? `unreadable row: ${row}`);
}

const SEED = Buffer.from('3132333435363738393031323334353637383930', 'hex');

function token(kind: 'hotp' | 'totp' | 'ocra'): TokenWithSeed {
  const at = new Date('2026-01-02T03:04:05Z');
  return {
    id: 1n, serial: 'S1', username: 'ann', userId: 2n, origin: 'hardware', kind, state: 'active', algorithm: 'sha1', digits: 6, period: 30, t0: 0n,
    ocraSuite: kind === 'ocra' ? 'OCRA-1:HOTP-SHA1-6:QN08' : null, lastStep: 5n, nextCounter: 7n, drift: 1, failCount: 0, lockedUntil: at,
    description: 'd', issuer: 'i', manufacturer: 'm', model: 'x', validFrom: at, validTo: at, disabledReason: null, disabledNote: null,
    pendingExpiresAt: null, lastUsedAt: at, createdAt: at, seed: SEED,
  };
}

const KINDS = ['hotp', 'totp', 'ocra'] as const;
const NOW = Date.parse('2026-01-01T00:00:00Z');

test("README lists the fields of token list --json and token show --json, each printed for some kind of token", () => {
  const printed = new Set(KINDS.flatMap((k) => Object.keys(tokenView(token(k), NOW))));
  expect(fieldsUnder('### Token fields in `--json`').sort()).toEqual([...printed].sort());
});

test.each(KINDS)('a %s token made into its view, from a row holding the seed, shows no seed', (kind) => {
  const json = JSON.stringify(tokenView(token(kind), NOW), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  for (const form of [SEED.toString('hex'), SEED.toString('base64'), SEED.toString('latin1'), '"seed"']) expect(json).not.toContain(form);
});

test('README lists the fields of token import --json', () => {
  const summary: Record<keyof TokenImportSummary, true> = {
    imported: true, skippedExisting: true, skippedPinKeys: true, byKind: true, replayStateKept: true, replayStateNewSeed: true, dryRun: true,
  };
  expect(fieldsUnder('### `token import --json`').sort()).toEqual(Object.keys(summary).sort());
});
