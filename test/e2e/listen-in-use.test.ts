import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../../src/app/serve';
import { createLogger } from '../../src/obs/logger';
import { testConfig } from '../support/server';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * A listen address that cannot be bound is a config mistake (another radotp, or FreeRADIUS, already has the
 * port; an address this host does not have). It stopped radotp with "radotp: bind EADDRINUSE 127.0.0.1:1812",
 * naming neither the file nor the key to change. Like every other bad config, it must say both in one line.
 */
describe('a listen address that cannot be bound names the config file and key', () => {
  let db: TestDatabase;
  let d: string;
  /** Starts a server (one data dir, so one key, for every test) that is expected not to start. */
  const start = async (config: Record<string, unknown>) => {
    const server = await startServer(testConfig(d, db.url, config).cfg, { logger: createLogger('silent') });
    await server.stop();
    throw new Error('the server started');
  };
  beforeAll(async () => {
    db = await createTestDatabase();
    d = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-listen-'));
  });
  afterAll(async () => {
    await db?.drop();
    fs.rmSync(d, { recursive: true, force: true });
  });

  test('radius.listen: a UDP port already taken', async () => {
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
    const port = holder.address().port;
    try {
      await expect(start({ radius: { listen: ['127.0.0.1:0', `127.0.0.1:${port}`] } })).rejects.toThrow(
        `${path.join(d, 'radotp.yaml')}: radius.listen.1: cannot listen on 127.0.0.1:${port}: the port is in use (another radotp or RADIUS server?)`,
      );
    } finally {
      holder.close();
    }
  });

  test('http.listen: a TCP port already taken', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      await expect(start({ http: { listen: `127.0.0.1:${port}` } })).rejects.toThrow(`${path.join(d, 'radotp.yaml')}: http.listen: cannot listen on 127.0.0.1:${port}: the port is in use`);
    } finally {
      holder.close();
    }
  });

  test('an address this host does not have', async () => {
    await expect(start({ radius: { listen: ['192.0.2.77:0'] } })).rejects.toThrow(`${path.join(d, 'radotp.yaml')}: radius.listen.0: cannot listen on 192.0.2.77:0: not an address of this host`);
  });
});
