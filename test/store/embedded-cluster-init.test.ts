import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCluster } from '../../src/store/embedded/cluster';

/*
 * initCluster appends radotp's settings to the postgresql.conf that initdb made. As root in another user's dataDir
 * (`sudo radotp init` on a service account's), initdb runs as that user in <dataDir>/postgres.initializing, a folder
 * in their dataDir: once initdb is done they can put a symlink there (to /etc/postgresql/15/main, say), and root
 * appended to the postgresql.conf it led to (listen_addresses = '' in the system's cluster). The initdb here is
 * a real program run as the folder's owner that does just that, as they would in the gap after initdb.
 */

const NOBODY = { uid: 65534, gid: 65534 };
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'radotp-cluster-init-'));
  chmodSync(scratch, 0o755); // nobody runs the fake initdb from here
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test("as root, initCluster does not append to a postgresql.conf that is not the initdb user's", async () => {
  if (process.getuid?.() !== 0) return; // only root can be another user
  const victim = join(scratch, 'victim');
  mkdirSync(victim, { mode: 0o755 });
  writeFileSync(join(victim, 'postgresql.conf'), "port = 5432\n", { mode: 0o644 });
  const home = join(scratch, 'home');
  mkdirSync(home, { mode: 0o755 });
  chownSync(home, NOBODY.uid, NOBODY.gid);
  const pgdata = join(home, 'postgres.initializing');
  mkdirSync(pgdata, { mode: 0o700 });
  chownSync(pgdata, NOBODY.uid, NOBODY.gid);
  // Called as initdb -D <pgdata> …: leaves a symlink to root's folder where the cluster should be, and succeeds.
  const initdb = join(scratch, 'initdb');
  writeFileSync(initdb, `#!/bin/sh\nrm -rf "$2" && ln -s ${victim} "$2"\n`, { mode: 0o755 });

  const init = initCluster({
    bin: { initdb, postgres: '/nonexistent', origin: 'system' },
    runAs: { userName: 'nobody', ...NOBODY },
    pgdata,
    auth: { method: 'trust' },
    settings: { listen_addresses: '' },
  });
  await expect(init).rejects.toThrow(`${join(pgdata, 'postgresql.conf')} belongs to uid 0, not to the nobody user initdb ran as`);
  expect(readFileSync(join(victim, 'postgresql.conf'), 'utf8')).toBe('port = 5432\n');
});
