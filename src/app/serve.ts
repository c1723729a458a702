import type http from 'node:http';
import { nodeName, type LoadedConfig } from '../config/load';
import { AuditWriter } from '../auth/audit-writer';
import { createRadiusHandler, type ClientData } from '../auth/radius-handler';
import { longestChallengePrompts } from '../auth/methods/token';
import { largestReplyAttributesLength } from '../auth/reply-room';
import { longMessages } from '../auth/reply-message';
import { setPasswordQueueLimit } from '../auth/password-hash';
import { createLogger, type Logger } from '../obs/logger';
import { Metrics } from '../obs/metrics';
import { RepeatedFailureLog } from '../obs/repeated-failure';
import { RateLimitedLog } from '../radius/rate-limited-log';
import { startHttpServer } from '../obs/http';
import { ClientTable, parseCidr } from '../radius/client-table';
import { loadDefaultDictionary } from '../radius/dictionary';
import { parseListenAddress } from '../radius/listen-address';
import { RadiusServer } from '../radius/server';
import type { ClientEntry } from '../radius/types';
import { AuthCache } from '../store/auth-cache';
import { CHALLENGE_STATE_LENGTH } from '../store/challenges';
import { ChangeListener } from '../store/change-listener';
import { PARTIAL_LOGIN_TABLES } from '../store/connect';
import { CodeLengthsInUse } from '../store/code-lengths';
import { loadLoginData, loadLoginDataPage } from '../store/login-data';
import { openStore, type Store } from '../store/open';
import { retryWhileUnavailable } from '../store/retry';
import { startAuditRetention, type AuditRetentionJob } from './audit-retention';
import { downWarning, freeAgainNote, heldWarning, WAITING_WHILE_HELD, watchDatabaseHealth } from './database-health';
import { watchEmbeddedDatabase, type EmbeddedWatchdog } from './embedded-watchdog';
import { listenError } from './listen-error';
import { buildPipeline } from './pipeline';
import { DecisionsInFlight } from './decisions-in-flight';
import { repeatEvery, type Repeating } from '../lang/repeat';
import { coalescedRounds } from '../lang/coalesced-rounds';
import { DatabaseClock } from '../store/database-clock';

const CODE_NAMES: Record<number, string> = {
  1: 'Access-Request',
  2: 'Access-Accept',
  3: 'Access-Reject',
  11: 'Access-Challenge',
  12: 'Status-Server',
};
const codeName = (code: number): string => CODE_NAMES[code] ?? String(code);

export interface RunningServer {
  readonly radius: { address: string; port: number }[];
  readonly http?: { address: string; port: number };
  readonly store: Store;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Stop taking packets, finish those in flight, flush the audit trail, close the database. */
  stop(): Promise<void>;
  /** Resolves (with why) if the server cannot go on and should be stopped and restarted; never rejects. */
  readonly lost: Promise<string>;
}

function listen(text: string) {
  const r = parseListenAddress(text);
  if (!r.ok) throw new Error(r.error); // validated with the config already
  return r.value;
}

/**
 * Builds the client table from the database. A row the table cannot take (an invalid or duplicate
 * network, say from a hand-edited database) is skipped with a warning rather than freezing every
 * node on its previous table.
 */
async function loadClientTable(store: Store, logger: Logger): Promise<ClientTable<ClientData>> {
  const clients = await store.clients.listWithSecrets();
  const entries: ClientEntry<ClientData>[] = [];
  const networks = new Map<string, string>();
  for (const c of clients) {
    const parsed = parseCidr(c.address);
    const key = parsed.ok ? `${parsed.cidr.family}/${parsed.cidr.network}/${parsed.cidr.prefix}` : undefined;
    if (!key || networks.has(key)) {
      logger.warn({ client: c.name, address: c.address, clashesWith: key && networks.get(key) }, 'RADIUS client skipped: invalid or duplicate network');
      continue;
    }
    networks.set(key, c.name);
    entries.push({ name: c.name, cidr: c.address, secret: c.secret, requireMessageAuthenticator: c.requireMessageAuthenticator, learnMessageAuthenticator: c.learnMessageAuthenticator, replyMessageAuthenticator: c.replyMessageAuthenticator, data: { loginStyle: c.loginStyle } });
  }
  return new ClientTable(entries);
}

/**
 * Events dropped for room (the database away for longer than audit.maxBacklog events) are a part of the trail
 * lost: an error in the log, at most once a minute, with how many went since. They were counted in
 * radotp_audit_dropped_total alone, and the log's 'audit trail written again' read as a trail whole.
 */
function auditDroppedLog(logger: Logger, maxBacklog: number): () => void {
  const limit = new RateLimitedLog();
  return () => {
    const { log, suppressed } = limit.check('audit');
    if (!log) return;
    logger.error(
      { key: 'audit.maxBacklog', maxBacklog, ...(suppressed > 0 ? { droppedSinceLastLine: suppressed } : {}) },
      'audit events dropped: the database has been away for more than audit.maxBacklog events; the oldest are lost to the trail (the decisions are in this log)',
    );
  };
}

/**
 * The schema migrations this node applied at start, audited as `radotp init` and `radotp db migrate` audit
 * theirs (result admin, reason migrated), with method serve and this node's name: a change of the schema under
 * every node is an admin change the trail records, whichever command made it. `applied` is what this node's
 * migrations committed (see migrateToLatest): nodes starting together take the migration lock in turn, one
 * migration at a time, so each audits those it applied (together, every migration once), and a start on a
 * migrated schema has none, so writes no row. Written
 * through the audit writer, behind the start like a login's row: kept and retried should the database go away
 * right after migrating, and flushed on stop.
 */
function auditMigrations(audit: AuditWriter, node: string, applied: readonly string[]): void {
  if (applied.length === 0) return;
  audit.write({ at: Date.now(), node, result: 'admin', reason: 'migrated', method: 'serve', detail: { applied: [...applied] } });
}

export async function startServer(cfg: LoadedConfig, opts: { logger?: Logger } = {}): Promise<RunningServer> {
  const node = nodeName(cfg);
  // Every line names the node (node.name: "this node's name in the audit trail and logs"): in a cluster's
  // collected logs a 'database connection lost' or an auth decision with only a pid named no node.
  const logger = opts.logger ?? createLogger(cfg.log.level, { base: { pid: process.pid, node } });
  const metrics = new Metrics();
  // Bad extra dictionaries are a config error: refuse to start rather than fail on the first reply.
  const dictionary = loadDefaultDictionary(
    cfg.radius.dictionaries.map((file, i) => ({ file, origin: `${cfg.source ? `${cfg.source}: ` : ''}radius.dictionaries.${i}` })),
  );
  for (const w of dictionary.warnings) logger.warn({ warning: w }, 'dictionary line skipped');

  setPasswordQueueLimit(cfg.auth.maxQueuedPasswordChecks);
  const queryTimeoutMs = cfg.database.queryTimeout * 1000;
  // Migrating, openStore refuses a pooler in transaction or statement mode first (see openDatabase).
  const store = await openStore(cfg, { createKey: true, migrate: true, logger, applicationName: `radotp-serve@${node}`, queryTimeoutMs });
  const jobs: Repeating[] = [];
  /** Set once stop() begins: what it cuts short (the cache's warm-up) is not a failure to warn about. */
  let closing = false;
  const clock = new DatabaseClock();
  // Users and tokens are read through a cache that every node's and CLI's changes invalidate (LISTEN/NOTIFY).
  const cache: AuthCache = new AuthCache(
    {
      loadLoginData: (names) => loadLoginData(store.db, store.keys, names),
      usableForUser: (id) => store.tokens.usableForUser(id),
      hasDisabledToken: (id) => store.tokens.hasDisabledToken(id),
    },
    () => listener.live,
    { maxEntries: cfg.auth.loginCache.maxUsers, maxUnknownEntries: cfg.auth.loginCache.maxUnknownNames },
    () => clock.nowMs(), // token validity is read against the database's clock, as usableForUser's query does
  );
  metrics.watchLoginCache(cache.stats);
  metrics.watchSpends(store.tokens.spendStats);
  const codeLengths = new CodeLengthsInUse(() => store.tokens.codeLengthsInUse(), logger);
  /*
   * RFC 2865 §3 has the secret chosen by the packet's source address: every node must know a client as soon as
   * it is added, changed or removed, or a new NAS is dropped, a re-keyed one refused and a removed (perhaps
   * compromised) one still answered. So the table is read again whenever a change is heard (migration 0014),
   * and whenever the notifications come back (a change made while they were lost went unheard); every
   * radius.clientRefresh too, should one be missed all the same. One read at a time (coalescedRounds): with a
   * database that hangs, overlapping reads piled up on the pool, and one finishing late could put back an older
   * table; a change heard during a read gets a read of its own after it.
   */
  let clients = new ClientTable<ClientData>([]); // until the first read, at start, before any packet is taken
  const reloadLog = new RepeatedFailureLog(logger, { failing: 'could not reload RADIUS clients; keeping the previous table', recovered: 'RADIUS clients reloaded again' });
  const clientReloads = coalescedRounds(async () => {
    try {
      clients = await loadClientTable(store, logger);
      reloadLog.succeeded();
    } catch (e) {
      reloadLog.failed({ err: (e as Error).message });
    }
  });
  const listener = new ChangeListener(
    store.url,
    (e) => {
      if (e.kind === 'clients') void clientReloads.request();
      cache.onChange(e);
      codeLengths.onChange(e);
    },
    logger,
    () => {
      void clientReloads.request();
      const started = Date.now();
      metrics.loginCacheWarmed.set(0);
      cache.warm((after) => loadLoginDataPage(store.db, store.keys, after, 1000)).then(
        (users) => {
          metrics.loginCacheWarmed.set(1);
          logger.info({ users, ms: Date.now() - started }, 'user cache warmed');
        },
        // stopped during the warm-up, the store closed under it ("driver has already been destroyed"): nothing failed
        (e) => closing || logger.warn({ err: (e as Error).message }, 'could not warm the user cache; users are loaded on demand'),
      );
    },
    { timeoutMs: queryTimeoutMs },
  );
  let radius: RadiusServer<ClientData> | undefined;
  let retention: AuditRetentionJob | undefined;
  let watchdog: EmbeddedWatchdog | undefined;
  const health = watchDatabaseHealth({
    ping: (lockWaitMs) => store.ping(lockWaitMs),
    onChange: (up, why, table, refusal) =>
      up
        ? logger.info({}, 'database answers, takes writes and its login tables are free again')
        : logger.warn({ why, table, ...refusal }, downWarning(why ?? 'unreachable', table, refusal)),
    onHeld: (table, held) => (held ? logger.warn({ table }, heldWarning(table)) : logger.info({ table }, freeAgainNote(table))),
  });
  metrics.watchDatabase(
    health.up,
    PARTIAL_LOGIN_TABLES.map((table) => ({ table, waiting: WAITING_WHILE_HELD[table], held: () => health.held(table) })),
  );
  metrics.watchDatabasePools(() => store.poolUsage());
  let reportLost: (why: string) => void = () => {};
  const lost = new Promise<string>((resolve) => (reportLost = resolve));
  let httpServer: http.Server | undefined;
  const auditDropped = auditDroppedLog(logger, cfg.audit.maxBacklog);
  const auditLog = new RepeatedFailureLog(logger, { failing: 'audit trail not written yet; will retry', recovered: 'audit trail written again' });
  const audit = new AuditWriter((json, batchId) => store.audit.insertJson(json, batchId), {
    maxBacklog: cfg.audit.maxBacklog,
    onError: (e, backlog) => auditLog.failed({ err: (e as Error).message, backlog }),
    onWritten: () => auditLog.succeeded(),
    onDropped: () => {
      metrics.auditDropped.inc();
      auditDropped();
    },
  });
  metrics.watchAuditBacklog(() => audit.backlog);
  auditMigrations(audit, node, store.applied);
  const inFlight = new DecisionsInFlight();
  try {
    clients = await retryWhileUnavailable(() => loadClientTable(store, logger));
    await retryWhileUnavailable(() => clock.sync(store.db));
    const skewMs = clock.offsetFromWallMs();
    if (Math.abs(skewMs) >= 2000) {
      logger.warn({ skewSeconds: Math.round(skewMs / 100) / 10 }, "this node's clock differs from the database server's; codes and locks go by the database's clock");
    }
    await codeLengths.refresh();
    jobs.push(
      repeatEvery(cfg.radius.clientRefresh * 1000, () => clientReloads.request()),
      repeatEvery(60_000, async () => {
        // the clock's reading too: the monotonic clock carrying it forward may run a little fast or slow
        await Promise.all([store.challenges.purgeExpired(), store.tokens.deleteExpiredPending(), store.audit.forgetOldBatchIds(), clock.sync(store.db)]).catch(() => {});
      }),
    );

    listener.start();
    const pipeline = buildPipeline(cfg, store, node, {
      logger,
      cache,
      codeLengths,
      onPasswordHash: (purpose) => metrics.passwordHashes.inc({ purpose }),
      clock: clock.now,
    });
    // The refusals' Reply-Messages (see toReply in radius-handler.ts): the handler sends them, the reply room counts them.
    const refusalTexts = { rejectMessage: cfg.auth.rejectMessage, lockedMessage: cfg.auth.lockedMessage, challengeExpiredMessage: cfg.auth.challengeExpiredMessage };
    radius = new RadiusServer<ClientData>({
      listen: cfg.radius.listen.map(listen),
      clients: () => clients,
      handler: inFlight.track(createRadiusHandler({ pipeline, audit, logger, metrics, node, ...refusalTexts, challengeTtl: cfg.auth.challengeTtl })),
      maxPending: cfg.radius.maxPending,
      // A request whose Proxy-State leaves less room than the largest reply is dropped before it is decided
      // (RFC 2865 §3: 4096 octets at most; §5.33: Proxy-State "MUST be returned unmodified"), not decided and
      // its reply dropped after: a code spent, an audit row, and the NAS given nothing.
      maxReplyAttributesLength: largestReplyAttributesLength({
        ...refusalTexts,
        challengePrompts: longestChallengePrompts(cfg.auth.challengeMessage),
        stateLength: CHALLENGE_STATE_LENGTH,
      }),
      ready: health.up,
      duplicateWindowMs: cfg.radius.duplicateWindow * 1000,
      duplicateMaxEntries: cfg.radius.duplicateCacheSize,
      socketBufferBytes: cfg.radius.socketBuffer,
      logger,
      events: {
        dropped: (reason) => metrics.drops.inc({ reason }),
        duplicateAnswered: () => metrics.duplicatesAnswered.inc(),
        // a Status-Server answer (RFC 5997 §3) is an Access-Accept too: counted under its own request code
        replied: (code, seconds, requestCode) => metrics.countReply(codeName(requestCode), codeName(code), seconds),
      },
    });
    const radiusEntries = cfg.radius.listen.map((text, i) => ({ key: `radius.listen.${i}`, address: listen(text) }));
    const bound = await radius.start().catch((e: unknown) => {
      throw listenError(e, cfg.source, radiusEntries);
    });
    const messages = Object.entries({ ...refusalTexts, challengeMessage: cfg.auth.challengeMessage }).map(([key, text]) => [`auth.${key}`, text]);
    for (const m of longMessages(Object.fromEntries(messages))) {
      logger.warn(
        m,
        `${m.key} is ${m.octets} octets, sent as ${m.attributes} Reply-Message attributes (RFC 2865 §5.18 allows it); a NAS that shows only the first of them (pam_radius does) shows it cut: keep it within 253 octets`,
      );
    }
    const granted = radius.receiveBufferBytes();
    if (granted !== undefined && granted < cfg.radius.socketBuffer) {
      logger.warn(
        { key: 'radius.socketBuffer', requested: cfg.radius.socketBuffer, granted },
        `the kernel capped the RADIUS receive buffer at net.core.rmem_max; a burst beyond it is lost before radotp sees it (sysctl -w net.core.rmem_max=${cfg.radius.socketBuffer})`,
      );
    }
    if (store.embeddedDatabase) {
      watchdog = watchEmbeddedDatabase({
        database: store.embeddedDatabase,
        logger,
        onLost: (why) => {
          logger.error({ why }, 'lost the database; stopping (a supervisor should start radotp again)');
          reportLost(why);
        },
      });
    }
    if (cfg.audit.retention !== null) {
      retention = startAuditRetention({
        retentionSeconds: cfg.audit.retention,
        audit: store.audit,
        logger,
        onPruned: (n) => metrics.auditPruned.inc(n),
      });
    }
    let httpAddr: { address: string; port: number } | undefined;
    if (cfg.http.listen) {
      const h = listen(cfg.http.listen);
      const started = await startHttpServer({ host: h.host, port: h.port, metrics, health: async () => health.up(), logger }).catch((e: unknown) => {
        throw listenError(e, cfg.source, [{ key: 'http.listen', address: h }]);
      });
      httpServer = started;
      const a = started.address();
      if (a && typeof a === 'object') httpAddr = { address: a.address, port: a.port };
    }
    logger.info({ radius: bound, http: httpAddr, embeddedDatabase: store.embedded }, 'radotp serving');

    let stopping: Promise<void> | undefined;
    return {
      radius: bound,
      http: httpAddr,
      store,
      metrics,
      logger,
      lost,
      stop() {
        closing = true;
        stopping ??= (async () => {
          for (const j of [...jobs, clientReloads]) void j.stop(); // not waiting for a round the database may hold up to queryTimeout
          await watchdog?.stop();
          await health.stop();
          retention?.stop();
          await radius?.stop();
          // Decisions still waiting past the grace period (on a lock, a slow database) are audited too: the
          // audit writer closes after them. Each statement ends within database.queryTimeout; a login makes a
          // few in turn, so three of them bound the wait (a second SIGTERM ends the process at once).
          const undecided = await inFlight.settled(3 * queryTimeoutMs);
          if (undecided > 0) logger.error({ undecided }, 'logins still undecided when radotp stopped: their audit events are lost');
          await listener.stop();
          await codeLengths.stop();
          await new Promise<void>((resolve) => (httpServer ? httpServer.close(() => resolve()) : resolve()));
          await audit.close();
          // Nothing can write them any more: say so, rather than leave a last "will retry" standing.
          if (audit.backlog > 0) {
            logger.error({ lost: audit.backlog }, 'audit events lost: the database was away when radotp stopped (the decisions are in this log)');
          }
          await retention?.running;
          await store.close();
          logger.info({}, 'radotp stopped');
        })();
        return stopping;
      },
    };
  } catch (e) {
    closing = true;
    for (const j of [...jobs, clientReloads]) void j.stop();
    await watchdog?.stop();
    await health.stop();
    retention?.stop();
    await radius?.stop().catch(() => {});
    await listener.stop();
    await codeLengths.stop();
    httpServer?.close();
    await audit.close().catch(() => {});
    await retention?.running;
    await store.close().catch(() => {});
    throw e;
  }
}
