import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../src/config/load';
import { openStore, type Store } from '../src/store/open';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

export function configOf(cmd: Command): LoadedConfig {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return loadConfig(opts.config);
}

/** Opens the store for one CLI command and always closes it (stopping an embedded PostgreSQL we started). */
export async function withStore<T>(cmd: Command, fn: (store: Store, cfg: LoadedConfig) => Promise<T>, opts: { createKey?: boolean } = {}): Promise<T> {
  const cfg = configOf(cmd);
  const store = await openStore(cfg, { migrate: true, createKey: opts.createKey ?? false, poolSize: 2, applicationName: 'radotp-cli' });
  try {
    return await fn(store, cfg);
  } finally {
    await store.close();
  }
}

export function wantsJson(cmd: Command): boolean {
  return !!cmd.optsWithGlobals<GlobalOptions>().json;
}
