import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load';
import { createKeyFile } from '../../src/secrets/keyring';
import { loadKeyRing } from '../../src/store/open';

/*
 * The key file opens every RADIUS shared secret and token seed in the database. radotp creates it 0600, but
 * an operator copying it to a second node (cp, scp, a config-management template) easily leaves it 0644, and
 * nothing said so. serve now warns at start, naming the file and its mode; it still starts (the operator may
 * have reasons, e.g. a group the service shares), as sshd would not.
 */
describe('a key file readable by other users', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-keymode-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const load = (files: { keyFile: string; previousKeyFiles?: string[] }) => {
    const warnings: [object, string][] = [];
    const cfg = parseConfig(JSON.stringify({ ...files, database: { url: 'postgres://x@127.0.0.1/x' } }), path.join(dir, 'radotp.yaml'), {});
    loadKeyRing(cfg, false, { info: () => {}, warn: (o, m) => warnings.push([o, m]) });
    return warnings;
  };

  test('is warned about at start, with its path and mode, for keyFile and previousKeyFiles alike', () => {
    const current = path.join(dir, 'master.key');
    const old = path.join(dir, 'old.key');
    createKeyFile(current);
    createKeyFile(old);
    fs.chmodSync(current, 0o644);
    fs.chmodSync(old, 0o640);
    expect(load({ keyFile: current, previousKeyFiles: [old] })).toEqual([
      [{ keyFile: current, mode: '0644' }, expect.stringMatching(/readable by other users.*chmod 600/)],
      [{ keyFile: old, mode: '0640' }, expect.stringMatching(/readable by other users.*chmod 600/)],
    ]);
  });

  test('a 0600 key file (as radotp creates it) is not', () => {
    const current = path.join(dir, 'master.key');
    createKeyFile(current);
    expect(load({ keyFile: current })).toEqual([]);
  });
});
