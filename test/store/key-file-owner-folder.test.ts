import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load';
import { createKeyFile } from '../../src/secrets/keyring';
import { loadKeyRing } from '../../src/store/open';

/*
 * The default keyFile is <dataDir>/master.key, and `sudo radotp …` on a service account's dataDir reads it as root.
 * The account can make it a symlink to a key only root may read (another instance's /etc/radotp/master.key): root
 * then sealed the account's new tokens and secrets with that key, and opened with it whatever the account put in
 * its database. As root, a key file in a folder that is another user's is read only if it is a file there (not a
 * symlink, theirs or root's own); anywhere else a symlink to a key file still works, as admins use them.
 */
const OWNER = { uid: 65534, gid: 65534 };
let dir: string;
let rootKeys: string;
let rootKeyId: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-keyowner-'));
  rootKeys = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-rootkeys-'));
  rootKeyId = createKeyFile(path.join(rootKeys, 'master.key')).idHex;
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(rootKeys, { recursive: true, force: true });
});

const load = (keyFile: string) => {
  const cfg = parseConfig(JSON.stringify({ keyFile, database: { url: 'postgres://x@127.0.0.1/x' } }), path.join(dir, 'radotp.yaml'), {});
  return loadKeyRing(cfg, false);
};

test.each([
  ['create', true],
  ['read', false],
])("as root (%s), a symlink to root's key in another user's folder is refused, naming it", (_how, create) => {
  if (process.getuid?.() !== 0) return;
  fs.chownSync(dir, OWNER.uid, OWNER.gid);
  const keyFile = path.join(dir, 'master.key');
  fs.symlinkSync(path.join(rootKeys, 'master.key'), keyFile);
  const cfg = parseConfig(JSON.stringify({ keyFile, database: { url: 'postgres://x@127.0.0.1/x' } }), path.join(dir, 'radotp.yaml'), {});
  expect(() => loadKeyRing(cfg, create)).toThrow(new RegExp(`${keyFile.replace(/\./g, '\\.')} is a symbolic link; radotp does not read through one`));
});

test("as root, the other user's own key file there is read", () => {
  if (process.getuid?.() !== 0) return;
  fs.chownSync(dir, OWNER.uid, OWNER.gid);
  const keyFile = path.join(dir, 'master.key');
  const key = createKeyFile(keyFile);
  fs.chownSync(keyFile, OWNER.uid, OWNER.gid);
  expect(load(keyFile).current.idHex).toBe(key.idHex);
});

test("a symlink to a key file in one's own folder is read, as before", () => {
  const keyFile = path.join(dir, 'master.key');
  fs.symlinkSync(path.join(rootKeys, 'master.key'), keyFile);
  expect(load(keyFile).current.idHex).toBe(rootKeyId);
});
