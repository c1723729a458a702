import { Metrics } from '../../src/obs/metrics';
import { sampleIn as sample } from '../support/metrics';

describe('Metrics: per-login counts read at scrape time', () => {
  // [what is counted, metric, labels as exposed, expected value]
  const cases: [string, string, string, number][] = [
    ['three accepts', 'radotp_decisions_total', 'result="accept",reason="code_ok"', 3],
    ['one replay', 'radotp_decisions_total', 'result="reject",reason="replay"', 1],
    ['two bad codes', 'radotp_decisions_total', 'result="reject",reason="bad_code"', 2],
    ['accepts answered', 'radotp_requests_total', 'code="Access-Request",result="Access-Accept"', 3],
    ['rejects answered', 'radotp_requests_total', 'code="Access-Request",result="Access-Reject"', 3],
    ['Status-Server answers, apart from the logins', 'radotp_requests_total', 'code="Status-Server",result="Access-Accept"', 2],
    ['cache hits', 'radotp_login_cache_lookups_total', 'result="hit"', 5],
    ['cache misses', 'radotp_login_cache_lookups_total', 'result="miss"', 1],
  ];

  let text: string;
  beforeAll(async () => {
    const m = new Metrics(false);
    m.watchLoginCache({ hits: 5, misses: 1 });
    m.watchAuditBacklog(() => 42);
    for (const [result, reason, reply] of [
      ['accept', 'code_ok', 'Access-Accept'],
      ['accept', 'code_ok', 'Access-Accept'],
      ['reject', 'replay', 'Access-Reject'],
      ['reject', 'bad_code', 'Access-Reject'],
      ['accept', 'code_ok', 'Access-Accept'],
      ['reject', 'bad_code', 'Access-Reject'],
    ] as const) {
      m.countDecision(result, reason);
      m.countReply('Access-Request', reply, 0.0015);
    }
    m.countReply('Status-Server', 'Access-Accept', 0.0015);
    m.countReply('Status-Server', 'Access-Accept', 0.0015);
    await m.registry.metrics(); // a first scrape must not double what the second one reports
    text = await m.registry.metrics();
  });

  test.each(cases)('%s: %s{%s} = %d', (_what, name, labels, expected) => {
    expect(sample(text, name, labels)).toBe(expected);
  });

  test('the spends\' counters are read from the batcher\'s stats at each scrape', async () => {
    const m = new Metrics(false);
    const stats = { batches: 2, codes: 31, seconds: 0.0035 };
    m.watchSpends(stats);
    await m.registry.metrics();
    stats.batches = 3;
    stats.codes = 40;
    const t = await m.registry.metrics();
    expect(t).toMatch(/^radotp_spend_batches_total 3$/m);
    expect(t).toMatch(/^radotp_spend_codes_total 40$/m);
    expect(t).toMatch(/^radotp_spend_batch_seconds_total 0.0035$/m);
  });

  test('latency histogram counts every answered Access-Request, and no Status-Server (health probes)', () => {
    expect(sample(text, 'radotp_request_duration_seconds_bucket', 'le="0.002"')).toBe(6);
    expect(sample(text, 'radotp_request_duration_seconds_bucket', 'le="0.001"')).toBe(0);
    expect(text).toMatch(/^radotp_request_duration_seconds_count 6$/m);
  });

  test('the latency histogram reaches database.queryTimeout (10 s): a 7 s answer is told from one of 3 s', async () => {
    const m = new Metrics(false);
    m.countReply('Access-Request', 'Access-Accept', 7);
    m.countReply('Access-Request', 'Access-Accept', 3);
    const t = await m.registry.metrics();
    expect(sample(t, 'radotp_request_duration_seconds_bucket', 'le="2.5"')).toBe(0);
    expect(sample(t, 'radotp_request_duration_seconds_bucket', 'le="5"')).toBe(1);
    expect(sample(t, 'radotp_request_duration_seconds_bucket', 'le="10"')).toBe(2);
  });

  test('database pools are read when scraped: busy = open - idle, and statements waiting', async () => {
    const m = new Metrics(false);
    let usage = [
      { pool: 'main', open: 10, idle: 3, waiting: 4 },
      { pool: 'audit', open: 1, idle: 1, waiting: 0 },
    ];
    m.watchDatabasePools(() => usage);
    let t = await m.registry.metrics();
    expect(sample(t, 'radotp_database_connections', 'pool="main",state="busy"')).toBe(7);
    expect(sample(t, 'radotp_database_connections', 'pool="main",state="idle"')).toBe(3);
    expect(sample(t, 'radotp_database_pool_waiting', 'pool="main"')).toBe(4);
    expect(sample(t, 'radotp_database_connections', 'pool="audit",state="busy"')).toBe(0);
    usage = [{ pool: 'main', open: 2, idle: 2, waiting: 0 }, usage[1]!];
    t = await m.registry.metrics();
    expect(sample(t, 'radotp_database_connections', 'pool="main",state="busy"')).toBe(0);
    expect(sample(t, 'radotp_database_pool_waiting', 'pool="main"')).toBe(0);
  });

  test('the audit backlog is read when scraped', () => {
    expect(text).toMatch(/^radotp_audit_backlog 42$/m);
  });

  test('a decision never seen is not exposed', () => {
    expect(sample(text, 'radotp_decisions_total', 'result="fail",reason="database_unavailable"')).toBeUndefined();
  });
});
