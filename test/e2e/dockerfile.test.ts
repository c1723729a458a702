import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { readPostmasterPid } from '../../src/store/embedded/postmaster-pid';
import { buildImage, type BuiltImage } from '../support/dockerfile';
import { radclientUntilAccepted } from '../support/radclient';
import { freePort, isRunning, ServeProcess } from '../support/serve-process';

/*
 * The Dockerfile, built without Docker (see test/support/dockerfile.ts for what that does and does not
 * prove), then run as the image would run: its ENTRYPOINT and CMD, its ENV, its config file, the
 * embedded PostgreSQL in its volume. Only the listening ports are changed, to free ones.
 */

const REPO = path.resolve(__dirname, '../..');
const SECRET = 'docker-image-secret-8d1f0b';
const PASSWORD = 'docker image password';

describe('the Dockerfile', () => {
  let work: string;
  let image: BuiltImage;
  let serve: ServeProcess | undefined;
  let radiusPort: number;

  /** `radotp ARGS` inside the image, as `docker exec` would run it (the image's node entry point and ENV). */
  const inImage = (args: string[], stdin?: string) =>
    execFileSync(image.command[0]!, [image.command[1]!, ...args], { env: { PATH: process.env.PATH, ...image.env }, input: stdin, encoding: 'utf8', timeout: 90_000 });

  beforeAll(() => {
    // Under /tmp and 0755: as root, the embedded PostgreSQL runs as `postgres`, which must reach the volume.
    work = fs.mkdtempSync('/tmp/radotp-docker-');
    fs.chmodSync(work, 0o755);
    image = buildImage(REPO, path.join(REPO, 'Dockerfile'), work);
  }, 600_000);

  afterAll(async () => {
    if (serve && serve.child.exitCode === null && serve.child.signalCode === null) {
      serve.child.kill('SIGKILL');
      await serve.exited;
    }
    const left = image && readPostmasterPid(path.join(image.hostPath('/var/lib/radotp'), 'postgres'));
    if (left && isRunning(left.pid)) process.kill(left.pid, 'SIGQUIT');
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the image holds the compiled server and its production dependencies only', () => {
    const app = image.hostPath('/app');
    expect(fs.existsSync(path.join(app, 'dist/cli/main.js'))).toBe(true);
    expect(fs.existsSync(path.join(app, 'dictionaries'))).toBe(true);
    for (const absent of ['src', 'test', 'bench', 'node_modules/typescript', 'node_modules/jest', 'node_modules/radius', 'node_modules/otplib']) {
      expect({ absent, present: fs.existsSync(path.join(app, absent)) }).toEqual({ absent, present: false });
    }
    // what is not reproduced here: the base image, and the system packages (tini, CA certificates)
    expect(image.skipped).toEqual([expect.stringMatching(/apt-get install .*tini/)]);
  });

  test("the image's command serves on the embedded PostgreSQL in its volume; the CLI inside adds a client and a user; radclient is accepted", async () => {
    // The image's config file, with free ports instead of 1812 and 9812.
    const configFile = image.env.RADOTP_CONFIG!;
    expect(configFile.startsWith(image.root)).toBe(true);
    const config = parseDocument(fs.readFileSync(configFile, 'utf8'));
    expect(config.get('dataDir')).toBe(image.hostPath('/var/lib/radotp'));
    radiusPort = await freePort('udp');
    config.setIn(['radius', 'listen'], [`127.0.0.1:${radiusPort}`]);
    config.setIn(['radius', 'clientRefresh'], 0.2);
    config.setIn(['http', 'listen'], `127.0.0.1:${await freePort('tcp')}`);
    fs.writeFileSync(configFile, config.toString());

    serve = ServeProcess.spawn(image.command, { PATH: process.env.PATH, ...image.env });
    await serve.serving();
    expect(readPostmasterPid(path.join(image.hostPath('/var/lib/radotp'), 'postgres'))).toMatchObject({ status: 'ready' });

    expect(inImage(['client', 'add', 'local', '--address', '127.0.0.1', '--secret-stdin'], `${SECRET}\n`)).toBe('client local added\n');
    expect(inImage(['user', 'add', 'alice', '--password-stdin'], `${PASSWORD}\n`)).toBe('user alice added (method password)\n');
    const pairs = `User-Name=alice,User-Password="${PASSWORD}",Message-Authenticator=0x00`;
    expect((await radclientUntilAccepted({ port: radiusPort, secret: SECRET, pairs })).reply).toBe('Access-Accept');
  }, 180_000);

  test('SIGTERM (what tini forwards on docker stop) stops it cleanly', async () => {
    expect(await serve!.terminate()).toEqual({ code: 0, signal: null, output: '' });
  }, 60_000);
});
