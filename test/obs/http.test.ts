import type http from 'node:http';
import { startHttpServer } from '../../src/obs/http';
import { Metrics } from '../../src/obs/metrics';

describe('health/metrics HTTP server', () => {
  const logged: { fields: Record<string, unknown>; msg: string }[] = [];
  let healthy = true;
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      metrics: new Metrics(false),
      health: async () => healthy,
      logger: { error: ((fields: Record<string, unknown>, msg: string) => logged.push({ fields, msg })) as never },
    });
    const a = server.address() as { port: number };
    base = `http://127.0.0.1:${a.port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // [method, path, database up, expected status]
  const routes: [string, string, boolean, number][] = [
    ['GET', '/healthz', true, 200],
    ['GET', '/healthz', false, 503],
    ['HEAD', '/healthz?verbose=1', true, 200],
    ['GET', '/metrics', true, 200],
    ['POST', '/metrics', true, 405],
    ['GET', '/nothing', true, 404],
  ];
  test.each(routes)('%s %s (database up: %s) answers %d', async (method, path, up, status) => {
    healthy = up;
    const r = await fetch(base + path, { method });
    await r.arrayBuffer();
    expect(r.status).toBe(status);
  });

  test('an error on the listening server is logged, not thrown (an unhandled one would end the process)', async () => {
    const err = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
    expect(() => server.emit('error', err)).not.toThrow();
    expect(logged).toEqual([{ fields: { err: 'accept EMFILE', errno: 'EMFILE' }, msg: 'health/metrics HTTP server error' }]);
    const r = await fetch(`${base}/healthz`);
    expect(r.status).toBe(200);
  });
});
