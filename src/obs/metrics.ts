import client from 'prom-client';

/** A login table only some logins write (see PARTIAL_LOGIN_TABLES in store/connect): which logins, and whether it is held. */
export interface HeldTableGauge {
  readonly table: string;
  /** The logins that wait while it is held, for the metric's help. */
  readonly waiting: string;
  readonly held: () => boolean;
}

/** Prometheus metrics of one server process (own registry, so tests can run several servers in one process). */
export class Metrics {
  readonly registry = new client.Registry();
  /** Per-login counts live in plain maps (result -> reason -> n) and are read when scraped. */
  private readonly decisionCounts = new Map<string, Map<string, number>>();
  /** request code -> reply code -> n, e.g. Access-Request -> Access-Accept, Status-Server -> Access-Accept. */
  private readonly replyCounts = new Map<string, Map<string, number>>();

  readonly requests = countedAtScrape(this.registry, {
    name: 'radotp_requests_total',
    help: 'RADIUS requests answered or decided, by request code and result',
    labelNames: ['code', 'result'],
    read: (inc) => {
      for (const [code, results] of this.replyCounts) for (const [result, n] of results) inc({ code, result }, n);
    },
  });
  readonly drops = new client.Counter({
    name: 'radotp_dropped_total',
    help: 'Datagrams dropped without an answer, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly decisions = countedAtScrape(this.registry, {
    name: 'radotp_decisions_total',
    help: 'Auth decisions by result and reason',
    labelNames: ['result', 'reason'],
    read: (inc) => {
      for (const [result, reasons] of this.decisionCounts) for (const [reason, n] of reasons) inc({ result, reason }, n);
    },
  });
  readonly latency = new client.Histogram({
    name: 'radotp_request_duration_seconds',
    help: 'Time from an Access-Request received to its reply sent (Status-Server answers, answered at once, would pull the percentiles down and are left out)',
    // up to database.queryTimeout's default (10 s): whether answers beat a NAS's timeout (often 3-10 s) shows
    buckets: [0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  /**
   * Retransmissions answered with the earlier reply: seen nowhere else (they are neither decisions nor
   * replies), yet their rate is what says a NAS's timeout is shorter than this node's answers.
   */
  readonly duplicatesAnswered = new client.Counter({
    name: 'radotp_duplicates_answered_total',
    help: 'Retransmitted Access-Requests answered from the duplicate cache with the reply already sent (RFC 5080), not decided again',
    registers: [this.registry],
  });
  readonly auditDropped = new client.Counter({
    name: 'radotp_audit_dropped_total',
    help: 'Audit events discarded because the backlog was full while the database was away',
    registers: [this.registry],
  });
  readonly auditPruned = new client.Counter({
    name: 'radotp_audit_pruned_total',
    help: 'Audit events this node deleted as older than audit.retention',
    registers: [this.registry],
  });

  readonly passwordHashes = new client.Counter({
    name: 'radotp_password_hashes_total',
    help: 'argon2id password hashes computed, by purpose: check (against a user\'s hash) or decoy (same cost, so that a reject\'s timing does not tell unknown users apart)',
    labelNames: ['purpose'] as const,
    registers: [this.registry],
  });

  readonly loginCacheWarmed = new client.Gauge({
    name: 'radotp_login_cache_warmed',
    help: '1 once every user and token has been loaded into this node\'s login cache (after start, and after the change notifications came back)',
    registers: [this.registry],
  });

  /**
   * 1 while the database answers, takes writes and its table token is not locked (the check behind /healthz and Status-Server, every 2 s),
   * else 0: the state an alert wants, where the failed decisions only show it while logins keep coming.
   */
  watchDatabase(up: () => boolean, partial: readonly HeldTableGauge[] = []): void {
    readAtScrape(this.registry, {
      name: 'radotp_database_up',
      help: '1 while the database answers this node\'s health check (every 2 s), takes writes and its login table token is not locked by another session, 0 otherwise',
      read: () => (up() ? 1 : 0),
    });
    // not a part of radotp_database_up: only some logins need these tables (see heldWarning in app/database-health)
    for (const t of partial) {
      readAtScrape(this.registry, {
        name: `radotp_database_${t.table}_table_locked`,
        help: `1 while the health check finds the table ${t.table} held by another session (${t.waiting} wait; others go on, and the node stays up), 0 otherwise`,
        read: () => (t.held() ? 1 : 0),
      });
    }
  }

  /** Reads the audit writer's backlog when scraped (it changes with every login). */
  watchAuditBacklog(backlog: () => number): void {
    readAtScrape(this.registry, { name: 'radotp_audit_backlog', help: 'Audit events waiting to be written to the database', read: backlog });
  }

  /**
   * The connection pools when scraped: a login that waits for a connection is as slow as a slow database, and
   * `waiting` above 0 for long says database.poolSize (or the server's max_connections) is too small.
   */
  watchDatabasePools(usage: () => readonly { pool: string; open: number; idle: number; waiting: number }[]): void {
    new client.Gauge({
      name: 'radotp_database_connections',
      help: 'Connections of this node to the database, by pool (main: logins and admin reads; audit; challenge: answers to Access-Challenges; spend: the batched spends of codes) and state (busy: lent out to a statement, or still being opened; idle)',
      labelNames: ['pool', 'state'],
      registers: [this.registry],
      collect() {
        for (const u of usage()) {
          this.set({ pool: u.pool, state: 'busy' }, u.open - u.idle);
          this.set({ pool: u.pool, state: 'idle' }, u.idle);
        }
      },
    });
    new client.Gauge({
      name: 'radotp_database_pool_waiting',
      help: 'Statements of this node waiting for a free connection, by pool (every connection is busy and the pool is at its size)',
      labelNames: ['pool'],
      registers: [this.registry],
      collect() {
        for (const u of usage()) this.set({ pool: u.pool }, u.waiting);
      },
    });
  }

  /** Reads the login cache's own counters when scraped (nothing is counted here per login). */
  watchLoginCache(stats: { readonly hits: number; readonly misses: number }): void {
    countedAtScrape(this.registry, {
      name: 'radotp_login_cache_lookups_total',
      help: 'User lookups of logins, by whether the login cache had the user (hit) or the database was read (miss)',
      labelNames: ['result'],
      read: (inc) => {
        inc({ result: 'hit' }, stats.hits);
        inc({ result: 'miss' }, stats.misses);
      },
    });
  }

  /** Reads the spends' own counters when scraped (see SpendStats; nothing is counted here per batch). */
  watchSpends(stats: { readonly batches: number; readonly codes: number; readonly seconds: number }): void {
    const counter = (name: string, help: string, read: () => number) =>
      countedAtScrape(this.registry, { name, help, labelNames: [], read: (inc) => inc({}, read()) });
    counter('radotp_spend_batches_total', 'Batches of codes sent to the database to be spent (one guarded UPDATE each, more when a row was held)', () => stats.batches);
    counter('radotp_spend_codes_total', 'Codes sent to the database to be spent, in those batches (divided by the batches: codes per batch)', () => stats.codes);
    counter(
      'radotp_spend_batch_seconds_total',
      'Time from each batch sent to the database until it was decided, summed (divided by the batches: the mean round trip of a spend)',
      () => stats.seconds,
    );
  }

  /**
   * Counts a decision. Every login passes here: a labelled prom-client child hashes its labels on
   * each inc (~0.2 µs); two lookups of constant strings in small maps cost a tenth of that.
   */
  countDecision(result: string, reason: string): void {
    let reasons = this.decisionCounts.get(result);
    if (reasons === undefined) this.decisionCounts.set(result, (reasons = new Map()));
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }

  /**
   * Counts an answered request by request code (`code`: Access-Request or Status-Server) and reply
   * code (`result`), and records the latency of a login (an Access-Request).
   */
  countReply(code: string, result: string, seconds: number): void {
    let results = this.replyCounts.get(code);
    if (results === undefined) this.replyCounts.set(code, (results = new Map()));
    results.set(result, (results.get(result) ?? 0) + 1);
    if (code === 'Access-Request') this.latency.observe(seconds);
  }

  constructor(collectDefaults = true) {
    if (collectDefaults) client.collectDefaultMetrics({ register: this.registry });
  }
}

type LabelValues = Record<string, string>;

/** A gauge whose value is kept elsewhere, read when the registry is scraped. */
function readAtScrape(registry: client.Registry, spec: { name: string; help: string; read: () => number }): client.Gauge {
  return new client.Gauge({
    name: spec.name,
    help: spec.help,
    registers: [registry],
    collect() {
      this.set(spec.read());
    },
  });
}

/** A counter whose values are totals kept elsewhere, copied in when the registry is scraped. */
function countedAtScrape(
  registry: client.Registry,
  spec: { name: string; help: string; labelNames: string[]; read: (inc: (labels: LabelValues, n: number) => void) => void },
): client.Counter<string> {
  return new client.Counter({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames,
    registers: [registry],
    collect() {
      this.reset();
      spec.read((labels, n) => this.inc(labels, n));
    },
  });
}
