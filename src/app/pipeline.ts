import type { LoadedConfig } from '../config/load';
import { LocalPasswordFactor, type PasswordHashPurpose, type PasswordLockoutSettings } from '../auth/first-factor';
import type { AuthMethod } from '../auth/method';
import { PasswordMethod } from '../auth/methods/password';
import { TokenMethod, type TokenSource } from '../auth/methods/token';
import type { AuthCache } from '../store/auth-cache';
import type { CodeLengthsInUse } from '../store/code-lengths';
import { TokenVerifier, type VerifierSettings } from '../auth/token-verifier';
import { AuthPipeline } from '../auth/pipeline';
import type { Logger } from '../obs/logger';
import { RateLimitedLog } from '../radius/rate-limited-log';
import { KeyError } from '../secrets/keyring';
import { CONNECTION_WAIT_MS, databaseFailure, postgresSqlstate, timeoutCause, type TimeoutCause } from '../store/connect';
import type { Store } from '../store/open';

export function verifierSettings(cfg: LoadedConfig): VerifierSettings {
  return {
    totpWindow: cfg.auth.totp.window,
    hotpLookAhead: cfg.auth.hotp.lookAhead,
    maxFailures: cfg.auth.lockout.maxFailures,
    lockSeconds: cfg.auth.lockout.duration,
    // a retransmission is recognised across nodes for as long as the duplicate cache recognises it on one
    retransmissionWindow: cfg.radius.duplicateWindow,
  };
}

/** Wrong passwords lock a user as wrong codes lock a token: one `auth.lockout` for both. */
export function passwordLockout(cfg: LoadedConfig): PasswordLockoutSettings {
  return { maxFailures: cfg.auth.lockout.maxFailures, lockSeconds: cfg.auth.lockout.duration };
}

/** Tokens read straight from the database (no cache): for processes that do not serve logins. */
function storeTokens(store: Store): TokenSource {
  return {
    usableForUser: (user) => store.tokens.usableForUser(user.id),
    hasDisabledToken: (id) => store.tokens.hasDisabledToken(id),
  };
}

const NO_LENGTHS = (): readonly number[] => [];

/**
 * The method table: a user's `method` column picks exactly one of these. `codeLengthsInUse`: the
 * deployment's code lengths, which set the price of a wrong append login (see src/auth/append-split.ts).
 */
export function buildMethods(
  cfg: LoadedConfig,
  store: Store,
  node: string,
  tokens: TokenSource = storeTokens(store),
  codeLengthsInUse: () => readonly number[] = NO_LENGTHS,
  firstFactor: LocalPasswordFactor = new LocalPasswordFactor(store.passwords, passwordLockout(cfg)),
  clock?: () => number,
): Map<string, AuthMethod> {
  const verifier = new TokenVerifier(store.tokens, store.keys, verifierSettings(cfg), clock);
  const methods: AuthMethod[] = [
    new PasswordMethod(firstFactor, codeLengthsInUse),
    new TokenMethod(firstFactor, tokens, store.challenges, verifier, {
      allowUsersWithoutToken: cfg.auth.allowUsersWithoutToken,
      challengeTtl: cfg.auth.challengeTtl,
      challengeMessage: cfg.auth.challengeMessage,
      node,
      codeLengthsInUse,
      codeLengthsNow: () => store.tokens.codeLengthsInUse(),
    }),
  ];
  return new Map(methods.map((m) => [m.name, m]));
}


/** The setting behind each way a login's statement runs out of time (see TimeoutCause): where to look. */
const TIMEOUT_SETTINGS: Readonly<Record<TimeoutCause, string>> = {
  query_timeout: 'database.queryTimeout',
  statement_canceled: 'statement_timeout',
  lock_timeout: 'lock_timeout',
};

/**
 * The warning for each: PostgreSQL's own timeouts are a DBA's settings (ALTER ROLE/DATABASE … SET), which raising
 * database.queryTimeout does not change; saying so keeps the one on call from tuning the wrong one.
 */
const TIMEOUT_WARNINGS: Readonly<Record<TimeoutCause, string>> = {
  query_timeout:
    "a login's database statement got no answer within database.queryTimeout (a lock another session holds, a slow query, or the host is gone); the login goes unanswered",
  statement_canceled:
    "PostgreSQL canceled a login's database statement (SQLSTATE 57014: statement_timeout, or a cancel request), not database.queryTimeout: see SHOW statement_timeout as radotp's role (ALTER ROLE/DATABASE … SET statement_timeout) or who sent pg_cancel_backend; the login goes unanswered",
  lock_timeout:
    "PostgreSQL's lock_timeout ran out (SQLSTATE 55P03) on a lock another session holds (see pg_locks), not database.queryTimeout: see SHOW lock_timeout as radotp's role (ALTER ROLE/DATABASE … SET lock_timeout); the login goes unanswered",
};

/**
 * Logs what kept a login from being decided. At most one line per distinct message every 10 s (a
 * misconfiguration fails every login, and would otherwise write one line per request); a KeyError is
 * the operator's config, not a bug, and a database's refusal (disk full...) is its state: neither comes
 * with a stack. A statement that ran out of time (database.queryTimeout, or PostgreSQL's statement_timeout or
 * lock_timeout) and a wait for a pooled connection that ran out may leave /healthz at 200: they are warnings
 * that name the setting involved, or nothing would show them above info. Only the error's message is logged: pg's carries no statement, value or secret.
 */
export function internalErrorLog(logger: Logger, database?: Pick<LoadedConfig['database'], 'queryTimeout' | 'poolSize'>): (e: unknown) => void {
  const limit = new RateLimitedLog({ perKeyIntervalMs: 10_000 });
  return (e) => {
    const message = e instanceof Error ? e.message : String(e);
    const { log, suppressed } = limit.check(message);
    if (!log) return;
    switch (databaseFailure(e)) {
      case 'timeout': {
        const cause = timeoutCause(e) ?? 'query_timeout';
        const value = cause === 'query_timeout' && database ? `${database.queryTimeout}s` : undefined;
        logger.warn({ err: message, setting: TIMEOUT_SETTINGS[cause], value, sqlstate: postgresSqlstate(e), suppressed }, TIMEOUT_WARNINGS[cause]);
        return;
      }
      case 'pool_exhausted':
        logger.warn(
          { err: message, setting: 'database.poolSize', value: database?.poolSize, waitedMs: CONNECTION_WAIT_MS, suppressed },
          "no database connection came free for a login: every one in the pool stayed busy (database.poolSize too small for the load, or statements held up); the login goes unanswered",
        );
        return;
      case 'unavailable':
        logger.warn({ err: message, sqlstate: postgresSqlstate(e), suppressed }, "the database refused a login's work; it goes unanswered");
        return;
    }
    if (e instanceof KeyError) logger.error({ err: message, suppressed }, 'a secret this login needs is sealed under a key this node does not hold');
    else logger.error({ err: e instanceof Error ? e.stack : message, suppressed }, 'internal error while deciding');
  };
}

/** What a serving node adds to the stores: its caches, and where its password hashes are counted. */
export interface ServingParts {
  readonly logger: Logger;
  readonly cache: AuthCache;
  readonly codeLengths: Pick<CodeLengthsInUse, 'current'>;
  readonly onPasswordHash?: (purpose: PasswordHashPurpose) => void;
  /**
   * Unix seconds by the database's clock (see DatabaseClock), the one clock of every node: TOTP steps are read
   * against it, as the drift stored by other nodes was, and token locks, as the spend's guard reads them.
   */
  readonly clock?: () => number;
}

/** The pipeline of a server: users and tokens read through the cache (see AuthCache). */
export function buildPipeline(cfg: LoadedConfig, store: Store, node: string, parts: ServingParts): AuthPipeline {
  const users = { find: (username: string) => parts.cache.findUser(username), forget: (username: string) => parts.cache.forgetUser(username) };
  const codeLengthsInUse = () => parts.codeLengths.current();
  const firstFactor = new LocalPasswordFactor(store.passwords, passwordLockout(cfg), parts.onPasswordHash);
  return new AuthPipeline(
    users,
    store.challenges,
    buildMethods(cfg, store, node, parts.cache, codeLengthsInUse, firstFactor, parts.clock),
    internalErrorLog(parts.logger, cfg.database),
    { firstFactor, codeLengthsInUse },
    undefined,
    // a login waits for its turn no longer than for a statement: past that, no NAS is waiting for its answer
    cfg.database.queryTimeout * 1000,
  );
}
