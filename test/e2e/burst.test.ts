import dgram from 'node:dgram';
import fs from 'node:fs';
import { Code } from '../../src/radius/types';
import path from 'node:path';
import { accessRequest } from '../support/radius-client';
import { ServeProcess } from '../support/serve-process';
import { startTestServer, TEST_SECRET, testConfig, type TestServer } from '../support/server';
import { waitFor } from '../support/wait-for';

/*
 * A burst of requests arriving together (a NAS farm coming back after an outage, a morning login storm)
 * waits in the socket's kernel buffer until radotp reads it. With Linux's usual 208 KiB, about 250 fitted
 * and the rest were lost unseen: neither answered nor shed as overload, so nothing counted them.
 * radius.socketBuffer (1 MiB by default, about 1,300 requests) makes room. Status-Server, answered at once, stands in for the
 * requests: what is measured is what reaches radotp.
 */
const BURST = 800;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t?.close());

test(`a burst of ${BURST} requests sent at once is read whole (the kernel keeps them for radotp)`, async () => {
  // this machine's cap must allow the default, or the test would measure the sysctl, not radotp
  expect(Number(fs.readFileSync('/proc/sys/net/core/rmem_max', 'utf8'))).toBeGreaterThanOrEqual(t.cfg.radius.socketBuffer);
  const nas = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((resolve) => nas.bind(0, '127.0.0.1', resolve));
  nas.setRecvBufferSize(8 * 1024 * 1024);
  let answered = 0;
  nas.on('message', (m) => {
    if (m[0] === Code.AccessAccept) answered++;
  });
  try {
    const datagrams = Array.from({ length: BURST }, () => accessRequest({ secret: TEST_SECRET, code: Code.StatusServer }).datagram);
    for (const d of datagrams) nas.send(d, t.port, '127.0.0.1');
    const all = await waitFor(`${BURST} answers`, async () => (answered === BURST ? true : undefined), 15_000).catch(() => false);
    expect({ answered, all }).toEqual({ answered: BURST, all: true });
  } finally {
    nas.close();
  }
});

test('asked beyond net.core.rmem_max, serve starts all the same and warns, naming the key and the sysctl', async () => {
  const rmemMax = Number(fs.readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const dir = fs.mkdtempSync(path.join(t.dir, 'capped-'));
  const { file } = testConfig(dir, t.cfg.database.url!, {
    keyFile: t.cfg.keyFilePath,
    radius: { listen: ['127.0.0.1:0'], socketBuffer: rmemMax * 2 },
    http: { listen: null },
    log: { level: 'info' }, // serving() waits for the info line "radotp serving"
  });
  const serve = ServeProcess.start(file);
  try {
    await serve.serving();
    const warning = serve.output.split('\n').find((l) => l.includes('radius.socketBuffer'));
    expect(warning && JSON.parse(warning)).toMatchObject({ level: 40 /* pino's warn */, key: 'radius.socketBuffer', requested: rmemMax * 2, granted: rmemMax });
    expect(warning).toContain('sysctl -w net.core.rmem_max=');
  } finally {
    await serve.terminate();
  }
});
