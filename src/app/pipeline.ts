import type { LoadedConfig } from '../config/load';
import { LocalPasswordFactor } from '../auth/first-factor';
import type { AuthMethod } from '../auth/method';
import { PasswordMethod } from '../auth/methods/password';
import { TokenMethod, type TokenSource } from '../auth/methods/token';
import type { AuthCache } from '../store/auth-cache';
import { TokenVerifier, type VerifierSettings } from '../auth/token-verifier';
import { AuthPipeline } from '../auth/pipeline';
import type { Logger } from '../obs/logger';
import type { Store } from '../store/open';

export function verifierSettings(cfg: LoadedConfig): VerifierSettings {
  return {
    totpWindow: cfg.auth.totp.window,
    hotpLookAhead: cfg.auth.hotp.lookAhead,
    maxFailures: cfg.auth.lockout.maxFailures,
    lockSeconds: cfg.auth.lockout.duration,
  };
}

/** Tokens read straight from the database (no cache): for processes that do not serve logins. */
function storeTokens(store: Store): TokenSource {
  return {
    usableForUser: (user) => store.tokens.usableForUser(user.id),
    hasDisabledToken: (id) => store.tokens.hasDisabledToken(id),
  };
}

/** The method table: a user's `method` column picks exactly one of these. */
export function buildMethods(cfg: LoadedConfig, store: Store, node: string, tokens: TokenSource = storeTokens(store)): Map<string, AuthMethod> {
  const firstFactor = new LocalPasswordFactor(store.users);
  const verifier = new TokenVerifier(store.tokens, store.keys, verifierSettings(cfg));
  const methods: AuthMethod[] = [
    new PasswordMethod(firstFactor),
    new TokenMethod(firstFactor, tokens, store.challenges, verifier, {
      allowUsersWithoutToken: cfg.auth.allowUsersWithoutToken,
      challengeTtl: cfg.auth.challengeTtl,
      challengeMessage: cfg.auth.challengeMessage,
      node,
    }),
  ];
  return new Map(methods.map((m) => [m.name, m]));
}

/** The pipeline of a server: users and tokens read through `cache` (see AuthCache). */
export function buildPipeline(cfg: LoadedConfig, store: Store, node: string, logger: Logger, cache: AuthCache): AuthPipeline {
  const users = { find: (username: string) => cache.findUser(username) };
  return new AuthPipeline(users, store.challenges, buildMethods(cfg, store, node, cache), (e) =>
    logger.error({ err: e instanceof Error ? e.stack : String(e) }, 'internal error while deciding'),
  );
}
