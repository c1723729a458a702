import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli';

/*
 * The CLI reads ./radotp.yaml from the folder it runs in. An admin in another folder than serve's (a new
 * terminal opens in ~) was told "key file ~/data/master.key does not exist; run `radotp init` (or start
 * `radotp serve`) first": following it makes a second, empty installation (a new key, a new embedded
 * database) beside the real one. With no radotp.yaml where it runs, the refusal now says that the defaults
 * were used, and how to reach the installation that exists; with a config file, the hint is unchanged.
 */

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-elsewhere-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

// [the command an admin ran in the wrong folder]
const rows: [string, string[]][] = [
  ['user list', ['user', 'list']],
  ['client add', ['client', 'add', 'nas', '--address', '192.0.2.1', '--secret', 'a-long-shared-secret']],
  ['audit', ['audit']],
];

test.each(rows)('%s with no radotp.yaml here names the folder and the way to the real installation', async (_name, args) => {
  const r = await runCli(args, { cwd: dir });
  const keyFile = path.join(dir, 'data', 'master.key');
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
    code: 1,
    stdout: '',
    stderr:
      `radotp: key file ${keyFile} does not exist: there is no radotp.yaml in ${dir}, so the defaults apply; ` +
      'run this in the folder of the radotp.yaml serve uses, or give --config (or $RADOTP_CONFIG); ' +
      'for a new installation here, run `radotp init` first\n',
  });
  expect(fs.readdirSync(dir)).toEqual([]); // nothing created: no key, no data folder
});

test('with a radotp.yaml, the hint is the one it was', async () => {
  fs.writeFileSync(path.join(dir, 'radotp.yaml'), 'dataDir: ./state\n');
  const r = await runCli(['user', 'list'], { cwd: dir });
  expect({ code: r.code, stderr: r.stderr }).toEqual({
    code: 1,
    stderr: `radotp: key file ${path.join(dir, 'state', 'master.key')} does not exist; run \`radotp init\` (or start \`radotp serve\`) first\n`,
  });
});
