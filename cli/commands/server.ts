import { Command, InvalidArgumentError } from 'commander';
import { startServer } from '../../src/app/serve';
import { openDatabase, openStore } from '../../src/store/open';
import { parseRetentionSeconds } from '../../src/config/duration';
import { adminAudit, configOf, wantsJson, warnIfNewer, withAdminChange, withStore } from '../context';
import { AuditRepository } from '../../src/store/audit';
import { connectionRunner } from '../../src/store/prepared';
import type { LoadedConfig } from '../../src/config/load';
import { CliError, digitsOnly, printJson, printTable, UsageError } from '../io';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the RADIUS server (and /healthz, /metrics on http.listen)')
    .action(async (_opts, command: Command) => {
      const cfg = configOf(command);
      // SIGHUP (`systemctl reload`, kill -HUP, a closed terminal) would end the process at once by default:
      // logins in flight unanswered, the audit backlog lost. The config is read only at start, so there is
      // nothing to reload: keep serving and say how a change is applied.
      let logger: { warn(fields: object, msg: string): void } | undefined;
      process.on('SIGHUP', () =>
        logger?.warn({ signal: 'SIGHUP' }, 'SIGHUP ignored: radotp has no reload; restart it to apply config changes (clients, users and tokens need no restart)'),
      );
      const server = await startServer(cfg);
      logger = server.logger;
      // SIGTERM/SIGINT: stop taking packets, finish those in flight, close the database, exit 0.
      // A server that cannot go on (server.lost) stops the same way and exits 1, for a supervisor to restart it.
      const lost = await new Promise<string | undefined>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          server.logger.info({ signal }, 'shutting down');
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal); // a second signal then ends the process at once
          resolve(undefined);
        };
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        void server.lost.then(resolve);
      });
      await server.stop();
      server.logger.flush();
      if (lost !== undefined) throw new CliError(`stopped: ${lost}`);
    });
}

export function initCommand(): Command {
  return new Command('init')
    .description('create the key file (if absent) and the database schema')
    .option('--json', 'print JSON')
    .action(async (_opts, command: Command) => {
      const cfg = configOf(command);
      const store = await openStore(cfg, { createKey: true, migrate: true, poolSize: 1, applicationName: 'radotp-cli' });
      try {
        await auditMigrations(store.audit, cfg, 'init', store.applied);
      } finally {
        await store.close();
      }
      warnIfNewer(store.schema);
      if (wantsJson(command)) {
        return printJson({ keyFile: cfg.keyFilePath, keyId: store.keys.current.idHex, database: cfg.database.url ? 'configured' : 'embedded', dataDir: cfg.dataDirPath });
      }
      process.stdout.write(`key file: ${cfg.keyFilePath} (key id ${store.keys.current.idHex})\n`);
      process.stdout.write(`database: ${cfg.database.url ? 'ready' : `embedded PostgreSQL under ${cfg.dataDirPath} ready`}\n`);
    });
}

/**
 * A change of the schema is an admin's change like the others: its row names the migrations applied and who ran
 * the command. Written once they are committed (each runs in a transaction of its own), and only when one was.
 */
async function auditMigrations(audit: AuditRepository, cfg: LoadedConfig, method: 'init' | 'db migrate', applied: readonly string[]): Promise<void> {
  if (applied.length > 0) await adminAudit({ audit }, cfg)({ method, reason: 'migrated', detail: { applied } });
}

export function dbCommand(): Command {
  const cmd = new Command('db').description('database maintenance');
  cmd
    .command('migrate')
    .description('apply pending schema migrations (init and serve do this too; other commands do not)')
    .option('--json', 'print JSON')
    .action(async (_opts, command: Command) => {
      const cfg = configOf(command);
      const database = await openDatabase(cfg, { migrate: true, poolSize: 1, applicationName: 'radotp-cli' });
      try {
        await auditMigrations(new AuditRepository(database.conn.db, connectionRunner(database.conn.db)), cfg, 'db migrate', database.applied);
      } finally {
        await database.close();
      }
      const { applied, schema } = database;
      warnIfNewer(schema);
      if (wantsJson(command)) return printJson({ applied });
      if (applied.length) process.stdout.write(`applied: ${applied.join(', ')}\n`);
      else process.stdout.write(schema.unknown.length ? 'nothing to apply\n' : 'schema is up to date\n');
    });
  return cmd;
}

/** A usage error (exit 2, reported by commander) unless a whole number from 1 to 100000. */
function auditLimit(v: string): number {
  const n = digitsOnly(v);
  if (!Number.isInteger(n) || n < 1 || n > 100000) throw new InvalidArgumentError('It must be a whole number from 1 to 100000.');
  return n;
}

/** Who ran the command an admin row records (logins have none). */
function byAdmin(detail: Record<string, unknown> | undefined): string | undefined {
  return typeof detail?.admin === 'string' ? detail.admin : undefined;
}

/**
 * A usage error (exit 2, reported by commander) unless a duration from a day to 100 years, as audit.retention:
 * beyond that the cut-off is no date (99999999999d reached PostgreSQL as "0NaN-NaN").
 */
function olderThan(v: string): number {
  const seconds = parseRetentionSeconds(v);
  if (seconds === undefined) throw new InvalidArgumentError('It must be a duration from a day to 100 years (36500d), such as "90d" or "36h" (a number alone is seconds).');
  return seconds;
}

/**
 * `audit prune --older-than 90d --user bob` deleted every user's old events (the parent's --user, which commander
 * takes after the subcommand too, only filters the listing): refused, as is --limit.
 */
function refuseListingOptions(prune: Command): void {
  const audit = prune.parent!;
  for (const name of ['user', 'limit']) {
    if (audit.getOptionValueSource(name) === 'cli') {
      throw new UsageError(`--${name} filters the listing of \`radotp audit\`; \`audit prune\` deletes the events of every user older than --older-than`);
    }
  }
}

function pruneCommand(): Command {
  return new Command('prune')
    .description('delete the events older than a duration (audit.retention does this hourly on the servers)')
    .requiredOption('--older-than <duration>', 'a day to 100 years: "90d", "36h"', olderThan)
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .option('--json', 'print JSON')
    .action(async (opts: { olderThan: number; dryRun?: boolean }, command: Command) => {
      refuseListingOptions(command);
      const before = new Date(Date.now() - opts.olderThan * 1000);
      const dryRun = !!opts.dryRun;
      const deleted = dryRun
        ? await withStore(command, (store) => store.audit.countBefore(before))
        : await withAdminChange(command, async (tx, audit) => {
            // waits for a node's round in progress; the rows go in one transaction with the row that says so
            const { deleted } = await tx.audit.prune(before, { wait: true });
            await audit({ method: 'audit prune', reason: 'pruned', detail: { before: before.toISOString(), deleted } });
            return deleted;
          });
      if (wantsJson(command)) return printJson({ dryRun, before: before.toISOString(), deleted });
      process.stdout.write(`${dryRun ? 'would delete' : 'deleted'} ${deleted} audit event(s) from before ${before.toISOString()}\n`);
    });
}

export function auditCommand(): Command {
  return new Command('audit')
    .description("show recent auth decisions and admins' changes")
    .option('--user <username>', 'only this user')
    .option('--limit <n>', 'how many (newest first)', auditLimit, 50)
    .option('--json', 'print JSON')
    .action(async (opts: { user?: string; limit: number; json?: boolean }, command: Command) => {
      const rows = await withStore(command, (store) => store.audit.recent({ username: opts.user, limit: opts.limit }));
      if (opts.json) return printJson(rows);
      printTable(
        ['TIME', 'NODE', 'CLIENT', 'USER', 'RESULT', 'REASON', 'METHOD', 'TOKEN', 'BY'],
        // CLIENT, USER and TOKEN: what a login came from, or what an admin's command changed; BY: that admin
        rows.map((r) => [r.at.toISOString(), r.node, r.client, r.username, r.result, r.reason, r.method, r.tokenSerial, byAdmin(r.detail)]),
      );
    })
    .addCommand(pruneCommand());
}
