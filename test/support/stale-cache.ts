import crypto from 'node:crypto';
import { buildPipeline } from '../../src/app/pipeline';
import type { LoadedConfig } from '../../src/config/load';
import { createLogger } from '../../src/obs/logger';
import { AuthCache } from '../../src/store/auth-cache';
import { loadLoginData } from '../../src/store/login-data';
import type { Store } from '../../src/store/open';

/**
 * A login cache over `store` that hears no change notification (its isLive says yes): a node in the moment before
 * an admin's change reaches it (the NOTIFY on its way, or the LISTEN connection down and not yet found out).
 */
export function cacheThatHearsNothing(store: Store): AuthCache {
  return new AuthCache(
    {
      loadLoginData: (names) => loadLoginData(store.db, store.keys, names),
      usableForUser: (id) => store.tokens.usableForUser(id),
      hasDisabledToken: (id) => store.tokens.hasDisabledToken(id),
    },
    () => true,
  );
}

/** An otp-only login of `username` typing `code`, decided by a pipeline over `store` that reads through `cache`. */
export function otpOnlyLogin(cfg: LoadedConfig, store: Store, cache: AuthCache, username: string, code: string) {
  return buildPipeline(cfg, store, 'n1', { logger: createLogger('silent'), cache, codeLengths: { current: () => [6] } }).decide({
    username,
    password: Buffer.from(code),
    authenticator: crypto.randomBytes(16),
    client: { name: 'nas', address: '127.0.0.1', loginStyle: 'otp-only' },
  });
}
