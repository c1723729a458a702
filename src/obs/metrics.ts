import client from 'prom-client';

/** Prometheus metrics of one server process (own registry, so tests can run several servers in one process). */
export class Metrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({
    name: 'radotp_requests_total',
    help: 'RADIUS requests answered or decided, by request code and result',
    labelNames: ['code', 'result'] as const,
    registers: [this.registry],
  });
  readonly drops = new client.Counter({
    name: 'radotp_dropped_total',
    help: 'Datagrams dropped without an answer, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly decisions = new client.Counter({
    name: 'radotp_decisions_total',
    help: 'Auth decisions by result and reason',
    labelNames: ['result', 'reason'] as const,
    registers: [this.registry],
  });
  readonly latency = new client.Histogram({
    name: 'radotp_request_duration_seconds',
    help: 'Time from datagram received to reply sent',
    buckets: [0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly auditDropped = new client.Counter({
    name: 'radotp_audit_dropped_total',
    help: 'Audit events discarded because the backlog was full while the database was away',
    registers: [this.registry],
  });
  readonly auditBacklog = new client.Gauge({
    name: 'radotp_audit_backlog',
    help: 'Audit events waiting to be written to the database',
    registers: [this.registry],
  });

  readonly loginCacheWarmed = new client.Gauge({
    name: 'radotp_login_cache_warmed',
    help: '1 once every user and token has been loaded into this node\'s login cache (after start, and after the change notifications came back)',
    registers: [this.registry],
  });

  /** Reads the login cache's own counters when scraped (nothing is counted here per login). */
  watchLoginCache(stats: { readonly hits: number; readonly misses: number }): void {
    new client.Counter({
      name: 'radotp_login_cache_lookups_total',
      help: 'User lookups of logins, by whether the login cache had the user (hit) or the database was read (miss)',
      labelNames: ['result'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc({ result: 'hit' }, stats.hits);
        this.inc({ result: 'miss' }, stats.misses);
      },
    });
  }

  private readonly decisionChildren = new Map<string, { inc(): void }>();

  /** Counts a decision; the labelled child is looked up once per (result, reason), not hashed per request. */
  countDecision(result: string, reason: string): void {
    const key = `${result}\0${reason}`;
    let child = this.decisionChildren.get(key);
    if (!child) this.decisionChildren.set(key, (child = this.decisions.labels({ result, reason })));
    child.inc();
  }

  private readonly replyChildren = new Map<string, { inc(): void }>();

  /** Counts an answered Access-Request by reply code and records its latency. */
  countReply(result: string, seconds: number): void {
    let child = this.replyChildren.get(result);
    if (!child) this.replyChildren.set(result, (child = this.requests.labels({ code: 'Access-Request', result })));
    child.inc();
    this.latency.observe(seconds);
  }

  constructor(collectDefaults = true) {
    if (collectDefaults) client.collectDefaultMetrics({ register: this.registry });
  }
}
