import os from 'node:os';
import type { Command } from 'commander';
import { loadConfig, nodeName, type LoadedConfig } from '../src/config/load';
import type { AdminAuditEvent, AdminAuditWriter } from '../src/store/audit';
import { lockHolders, type LockHolder } from '../src/store/lock-holders';
import { openStore, type Store, type TransactionStore } from '../src/store/open';
import { newerSchemaWarning, pendingCount, SchemaBehindError, type SchemaVersion } from '../src/store/schema-version';
import { CliError, UsageError } from './io';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

export function configOf(cmd: Command): LoadedConfig {
  return loadConfig(configFileGiven(cmd));
}

/**
 * The --config given on the command line, by the command or a parent (the nearest wins, as in optsWithGlobals).
 * An empty one (`-c "$CONF"` with CONF unset) names no file: it was taken for no --config at all, and the
 * command went on with ./radotp.yaml, or defaults, against another database. $RADOTP_CONFIG, which commander
 * also puts in the option, is left to loadConfig (empty there means unset, as for $RADOTP_DATABASE_URL).
 */
function configFileGiven(cmd: Command): string | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const value = c.getOptionValue('config') as string | undefined;
    if (value === undefined) continue;
    if (c.getOptionValueSource('config') === 'env') return undefined;
    if (value === '') throw new UsageError('--config names no file (it is empty); leave it out to read $RADOTP_CONFIG, else ./radotp.yaml');
    return value;
  }
  return undefined;
}

/**
 * Opens the store for one CLI command and always closes it (stopping an embedded PostgreSQL we started).
 * It never migrates: an admin who installed a newer radotp on their own machine must not change the schema
 * under the nodes still serving from it. Only init, db migrate and serve apply migrations.
 */
export async function withStore<T>(cmd: Command, fn: (store: Store, cfg: LoadedConfig) => Promise<T>, opts: { createKey?: boolean } = {}): Promise<T> {
  const cfg = configOf(cmd);
  let store: Store;
  // this process's own, so that the sessions holding it up can be told from those holding up another command
  const applicationName = `radotp-cli ${process.pid}`;
  try {
    store = await openStore(cfg, { migrate: false, createKey: opts.createKey ?? false, poolSize: 2, applicationName });
  } catch (e) {
    throw e instanceof SchemaBehindError ? schemaBehind(e) : e;
  }
  warnIfNewer(store.schema);
  const stopWatching = tellWhenHeldUp(store, applicationName);
  try {
    return await fn(store, cfg);
  } finally {
    stopWatching();
    await store.close();
  }
}

/** How often a command still running looks for a session holding it up (see tellWhenHeldUp). */
const HELD_UP_CHECK_MS = 3000;

/**
 * One line on stderr, the first time the command is found waiting on a lock another session holds: which session
 * (pid, application, state, since when), and that the command goes on waiting. WHY: CLI commands do not time out (an
 * admin's statement may need long), and one waiting on a row held by a transaction left open (a DBA's `SELECT … FOR
 * UPDATE`, a stuck script) printed nothing at all: `radotp token unlock` sat silent for as long as the row was held.
 * A command that is merely slow says nothing (an import reports its own progress). One timer per command.
 */
function tellWhenHeldUp(store: Store, applicationName: string): () => void {
  let told = false;
  const timer = setInterval(() => {
    lockHolders(store.url, applicationName).then(
      (holders) => {
        if (told || holders.length === 0) return;
        told = true;
        clearInterval(timer);
        const who = holders.map(describeHolder).join(', ');
        process.stderr.write(`radotp: waiting for the database: ${who} ${holders.length === 1 ? 'holds' : 'hold'} what this command needs (see pg_locks); it goes on waiting until that is let go\n`);
      },
      () => {}, // a check that failed tells nothing; the command itself says what went wrong
    );
  }, HELD_UP_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

function describeHolder(h: LockHolder): string {
  const what = [h.application ?? 'no application name', h.state === null ? undefined : `${h.state}${h.since ? ` since ${h.since.toISOString()}` : ''}`];
  return `session ${h.pid} (${what.filter((w) => w !== undefined).join(', ')})`;
}

/** What the admin runs for a schema that lacks migrations: init for one with no radotp schema at all (it makes the key file too). */
function schemaBehind(e: SchemaBehindError): CliError {
  const pending = pendingCount(e.version);
  if (e.empty) return new CliError(`the database has no radotp schema yet (${pending}): run \`radotp init\``);
  return new CliError(`the database schema is older than this radotp (${pending}): run \`radotp db migrate\``);
}

/** One line on stderr when a newer radotp has migrated the schema: this one works on it, but should be upgraded too. */
export function warnIfNewer(schema: SchemaVersion): void {
  const warning = newerSchemaWarning(schema);
  if (warning) process.stderr.write(`radotp: warning: ${warning}\n`);
}

export function wantsJson(cmd: Command): boolean {
  return !!cmd.optsWithGlobals<GlobalOptions>().json;
}

/**
 * Runs an admin's change and writes its audit row in one transaction: a change is never made without
 * its row (nor the row written for a change that failed).
 */
export function withAdminChange<T>(cmd: Command, fn: (tx: TransactionStore, audit: AdminAuditWriter, cfg: LoadedConfig) => Promise<T>): Promise<T> {
  return withStore(cmd, (store, cfg) => adminTransaction(store, cfg, (tx, audit) => fn(tx, audit, cfg)));
}

/** One transaction of `store`, with an audit writer that writes in it. */
function adminTransaction<T>(store: Store, cfg: LoadedConfig, fn: (tx: TransactionStore, audit: AdminAuditWriter) => Promise<T>): Promise<T> {
  return store.transaction((tx) => fn(tx, adminAudit(tx, cfg)));
}

/**
 * An import run with its audit row: a dry run alone (it rolls itself back, and changed nothing to audit);
 * a real run in one transaction with the row that `row` makes of its summary.
 */
export function importAudited<T>(
  store: Store,
  cfg: LoadedConfig,
  dryRun: boolean,
  run: (into: TransactionStore) => Promise<T>,
  row: (summary: T) => AdminAuditEvent | readonly AdminAuditEvent[],
): Promise<T> {
  if (dryRun) return run(store);
  return store.transaction(async (tx) => {
    const summary = await run(tx);
    const rows = row(summary);
    await adminAuditRows(tx, cfg)(Array.isArray(rows) ? rows : [rows as AdminAuditEvent]);
    return summary;
  });
}

/**
 * Writes the audit row of an admin's action: under this node's name (as the server names itself) and
 * with who ran the command. Result `admin`, unless the action is a decision of its own (a code checked).
 */
export function adminAudit(store: Pick<Store, 'audit'>, cfg: LoadedConfig): AdminAuditWriter {
  const write = adminAuditRows(store, cfg);
  return (event) => write([event]);
}

/** adminAudit for many rows at once (a bulk import: one per thing it changed), in statements of a few thousand. */
function adminAuditRows(store: Pick<Store, 'audit'>, cfg: LoadedConfig): (events: readonly AdminAuditEvent[]) => Promise<void> {
  const node = nodeName(cfg);
  const admin = adminName();
  return async (events) => {
    for (let i = 0; i < events.length; i += AUDIT_CHUNK) {
      const chunk = events.slice(i, i + AUDIT_CHUNK).map((event) => ({ result: 'admin', ...event, node, detail: { ...event.detail, admin } }));
      await store.audit.insertJson(JSON.stringify(chunk));
    }
  };
}

const AUDIT_CHUNK = 5000;

/**
 * Who ran this command, for the audit trail of admin actions: the login behind sudo when there is one
 * (`alice via sudo`), else the account the process runs as (by uid when it has no passwd entry).
 */
export function adminName(env: NodeJS.ProcessEnv = process.env): string {
  const account = accountName();
  const sudoUser = env.SUDO_USER;
  return sudoUser && sudoUser !== account ? `${sudoUser} via sudo` : account;
}

function accountName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
