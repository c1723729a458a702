import http from 'node:http';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

export interface HealthCheck {
  (): Promise<boolean>;
}

/** /healthz (200 only while the database passes the health check: see loginReadiness) and /metrics (Prometheus text format). */
export function startHttpServer(opts: {
  host: string;
  port: number;
  metrics: Metrics;
  health: HealthCheck;
  logger: Pick<Logger, 'error'>;
}): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/healthz') {
      opts
        .health()
        .then((ok) => {
          res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'database unavailable\n');
        })
        .catch(() => res.writeHead(503, { 'content-type': 'text/plain' }).end('database unavailable\n'));
      return;
    }
    if (url === '/metrics') {
      opts.metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(text))
        .catch(() => res.writeHead(500).end());
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      // An 'error' event with no listener ends the process (EventEmitter throws it). A listening server can
      // still emit one, e.g. EMFILE when accept() runs out of descriptors: that must cost the metrics
      // endpoint, not the RADIUS service.
      server.on('error', (err: NodeJS.ErrnoException) =>
        opts.logger.error({ err: err.message, errno: err.code }, 'health/metrics HTTP server error'),
      );
      resolve(server);
    });
  });
}
