import { randomBytes } from 'node:crypto';
import { TokenVerifier } from '../../src/auth/token-verifier';
import { KeyRing, masterKeyFromBytes } from '../../src/secrets/keyring';
import { connect } from '../../src/store/connect';
import { buildStore, type Store, type TransactionStore } from '../../src/store/open';
import { TokenAdmin } from '../../src/tokens/admin';
import { createMigratedDatabase, type MigratedDatabase } from '../support/test-database';

/*
 * Several admins (and servers) on one PostgreSQL, for race tests: each "node" is a Store over a pool of
 * its own, and runs a token change as the CLI does (cli/commands/token.ts: changeToken), the change and
 * its audit row in one transaction; code checks (activate, verify) outside one (withAdmin).
 */
export const SETTINGS = { totpWindow: 1, hotpLookAhead: 10, maxFailures: 5, lockSeconds: 600 };

export interface Cluster {
  db: MigratedDatabase;
  keys: KeyRing;
  nodes: Store[];
  close(): Promise<void>;
}

export async function cluster(n: number, keys = new KeyRing(masterKeyFromBytes(randomBytes(32)))): Promise<Cluster> {
  const db = await createMigratedDatabase();
  const nodes = Array.from({ length: n }, () => buildStore(connect(db.url, { poolSize: 3 }), keys, db.url, {} as never));
  return {
    db,
    keys,
    nodes,
    async close() {
      for (const s of nodes) await s.close();
      await db.close();
    },
  };
}

function adminOn(store: TransactionStore): TokenAdmin {
  const audit = (e: { result?: string }) => store.audit.insertJson(JSON.stringify([{ result: 'admin', ...e, node: 'test' }]));
  return new TokenAdmin(store, new TokenVerifier(store.tokens, store.keys, SETTINGS), { pendingTokenTtl: 600, audit });
}

/** A token change as `radotp token …` makes it: in one transaction with its audit row. */
export function change<T>(store: Store, fn: (admin: TokenAdmin) => Promise<T>): Promise<T> {
  return store.transaction((tx) => fn(adminOn(tx)));
}

/** A code check as `radotp token activate|verify` makes it: each write on its own. */
export function check<T>(store: Store, fn: (admin: TokenAdmin) => Promise<T>): Promise<T> {
  return fn(adminOn(store));
}

/** What each of several concurrent calls did: its value, or its error's message. */
export async function outcomes(...calls: Promise<unknown>[]): Promise<{ ok: boolean; value?: unknown; error?: string }[]> {
  const settled = await Promise.allSettled(calls);
  return settled.map((s) => (s.status === 'fulfilled' ? { ok: true, value: s.value } : { ok: false, error: (s.reason as Error).message }));
}
