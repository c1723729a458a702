import type { LoadedConfig } from '../config/load';
import { LocalPasswordFactor } from '../auth/first-factor';
import type { AuthMethod } from '../auth/method';
import { PasswordMethod } from '../auth/methods/password';
import { AuthPipeline } from '../auth/pipeline';
import type { Logger } from '../obs/logger';
import type { Store } from '../store/open';

/** The method table: a user's `method` column picks exactly one of these. */
export function buildMethods(cfg: LoadedConfig, store: Store, node: string): Map<string, AuthMethod> {
  const firstFactor = new LocalPasswordFactor();
  const methods: AuthMethod[] = [new PasswordMethod(firstFactor)];
  void cfg;
  void store;
  void node;
  return new Map(methods.map((m) => [m.name, m]));
}

export function buildPipeline(cfg: LoadedConfig, store: Store, node: string, logger: Logger): AuthPipeline {
  return new AuthPipeline(store.users, store.challenges, buildMethods(cfg, store, node), (e) =>
    logger.error({ err: e instanceof Error ? e.stack : String(e) }, 'internal error while deciding'),
  );
}
