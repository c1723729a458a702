import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_CONFIG_FILE, type LoadedConfig } from '../config/load';
import { KeyRing, readKeyFile, readOrCreateKeyFile, KeyError } from '../secrets/keyring';
import { sealedCounts } from './rekey';
import { AuditRepository } from './audit';
import { ChallengeRepository } from './challenges';
import { ClientRepository } from './clients';
import { connect, loginReadiness, renewConnections, type Connection, type Db, type LoginReadiness } from './connect';
import { acquireEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded-postgres';
import { MigrationError, migrateToLatest } from './migrate';
import { refuseTransactionPooling } from './session-pooling';
import { newerSchemaWarning, readSchemaVersion, refuseDiverged, SchemaBehindError, type SchemaVersion } from './schema-version';
import { connectionRunner, lockBoundedRunner, poolRunner, type StatementRunner } from './prepared';
import { TokenRepository } from './tokens';
import { UserRepository } from './users';
import { PasswordLockoutRepository } from './password-lockout';
import { RepeatedFailureLog } from '../obs/repeated-failure';

export interface Store {
  /** The connection URL (contains credentials: never log it). */
  readonly url: string;
  readonly db: Db;
  /** Runs the login path's prepared statements (see prepared.ts). */
  readonly run: StatementRunner;
  readonly keys: KeyRing;
  readonly clients: ClientRepository;
  readonly users: UserRepository;
  /** Users' wrong passwords and locks (see PasswordLockoutRepository). */
  readonly passwords: PasswordLockoutRepository;
  readonly tokens: TokenRepository;
  readonly challenges: ChallengeRepository;
  readonly audit: AuditRepository;
  /** Where the schema stands (see schema-version.ts); `unknown` names the migrations of a newer radotp. */
  readonly schema: SchemaVersion;
  /** The migrations this opening applied (with `migrate`), in order: what `init` audits. */
  readonly applied: readonly string[];
  /** True when this process uses the embedded PostgreSQL under dataDir. */
  readonly embedded: boolean;
  /** The embedded PostgreSQL, to start again should it stop (see EmbeddedPostgresHandle.revive); absent otherwise. */
  readonly embeddedDatabase?: Pick<EmbeddedPostgresHandle, 'revive'>;
  /** Runs `fn` in one transaction, with repositories that write in it: all of it commits, or none. */
  transaction<T>(fn: (tx: TransactionStore) => Promise<T>): Promise<T>;
  /**
   * Whether logins can be decided: the database takes writes and the tables logins write can be locked
   * within `lockWaitMs` (see loginReadiness); throws when it cannot be reached.
   */
  ping(lockWaitMs: number): Promise<LoginReadiness>;
  /** This process's connection pools as they are now (for /metrics): logins, audit trail, challenge answers, spends of codes. */
  poolUsage(): readonly PoolUsage[];
  close(): Promise<void>;
}

export interface PoolUsage {
  readonly pool: 'main' | 'audit' | 'challenge' | 'spend';
  /** Connections open or being opened (pg-pool's totalCount), and of those not lent out. */
  readonly open: number;
  readonly idle: number;
  /** Statements waiting for a connection: all are lent out and the pool is at its size. */
  readonly waiting: number;
}

/** The repositories of a Store, bound to one transaction (see Store.transaction). */
export type TransactionStore = Pick<Store, 'db' | 'keys' | 'clients' | 'users' | 'passwords' | 'tokens' | 'audit'>;

/**
 * The repositories writing through `db`: the pool's, or one transaction's (whose statements are then sent
 * unprepared, see connectionRunner). Login-path statements go through `run`, audit inserts through `auditRun`,
 * spends of codes through `spendRun` first when given (the pool's: see SpendBatcher).
 */
function repositories(db: Db, keys: KeyRing, run: StatementRunner, auditRun: StatementRunner = run, spendRun?: StatementRunner): TransactionStore {
  return {
    db,
    keys,
    clients: new ClientRepository(db, keys),
    users: new UserRepository(db),
    passwords: new PasswordLockoutRepository(db),
    tokens: new TokenRepository(db, keys, run, spendRun),
    audit: new AuditRepository(db, auditRun),
  };
}

interface LogSink {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
}

export interface OpenOptions {
  /** Create the key file when missing (init and serve do; other commands refuse). */
  createKey?: boolean;
  /**
   * Apply pending migrations (init, db migrate and serve do). Without it, a schema lacking migrations is
   * refused with a SchemaBehindError: an admin's command run with a newer radotp must not migrate the
   * schema under the older nodes still serving from it.
   */
  migrate?: boolean;
  poolSize?: number;
  logger?: LogSink;
  applicationName?: string;
  /** See ConnectOptions.queryTimeoutMs (serve sets it). Migrations run on a connection of their own, without it. */
  queryTimeoutMs?: number;
}

export function loadKeyRing(cfg: LoadedConfig, create: boolean, logger?: LogSink): KeyRing {
  // Problems name the config key (and file), as config errors do.
  const origin = (key: string) => (cfg.source ? `${cfg.source}: ${key}` : key);
  let current;
  if (create) {
    // The data folder may be created (on a first run, for the default keyFile in it); any other folder must exist.
    // `sudo radotp init` in a service account's folder makes the key theirs, as the service must read it.
    const r = readOrCreateKeyFile(cfg.keyFilePath, { origin: origin('keyFile'), createFolder: path.dirname(cfg.keyFilePath) === cfg.dataDirPath, forFolderOwner: true });
    if (r.created) logger?.info({ keyFile: cfg.keyFilePath, keyId: r.key.idHex }, 'created a new master key file');
    current = r.key;
  } else {
    try {
      current = readKeyFile(cfg.keyFilePath, origin('keyFile'));
    } catch (e) {
      if (e instanceof KeyError && /ENOENT/.test(e.message)) {
        // No config file found: the admin may be in another folder than serve's (a new terminal opens in ~),
        // where `radotp init` would make a second, empty installation beside the real one.
        if (cfg.source === undefined) {
          throw new KeyError(
            `key file ${cfg.keyFilePath} does not exist: there is no ${DEFAULT_CONFIG_FILE} in ${path.dirname(path.resolve(DEFAULT_CONFIG_FILE))}, so the defaults apply; ` +
              `run this in the folder of the ${DEFAULT_CONFIG_FILE} serve uses, or give --config (or $RADOTP_CONFIG); for a new installation here, run \`radotp init\` first`,
          );
        }
        throw new KeyError(`key file ${cfg.keyFilePath} does not exist; run \`radotp init\` (or start \`radotp serve\`) first`);
      }
      throw e;
    }
  }
  const previous = cfg.previousKeyFiles.map((file, i) => readKeyFile(file, origin(`previousKeyFiles.${i}`)));
  if (logger) for (const file of [cfg.keyFilePath, ...cfg.previousKeyFiles]) warnIfOthersCanRead(file, logger);
  return new KeyRing(current, previous);
}

/**
 * A key opens every shared secret and seed; radotp creates it 0600, but a copy made for another node
 * (cp, scp, a config-management template) is easily left 0644. Warned, not refused: a group shared with
 * a backup job, say, may be deliberate.
 */
function warnIfOthersCanRead(file: string, logger: LogSink): void {
  const mode = fs.statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  logger.warn({ keyFile: file, mode: `0${mode.toString(8)}` }, 'key file is readable by other users than its owner; chmod 600 it');
}

export function buildStore(conn: Connection, keys: KeyRing, url: string, schema: SchemaVersion, embedded?: EmbeddedPostgresHandle, applied: readonly string[] = []): Store {
  const { db } = conn;
  const run = poolRunner(conn.pool);
  let wasReadOnly = false;
  return {
    ...repositories(db, keys, run, poolRunner(conn.auditPool), lockBoundedRunner(conn.spendPool)),
    url,
    run,
    schema,
    applied,
    challenges: new ChallengeRepository(db, conn.challengePool),
    embedded: !!embedded,
    embeddedDatabase: embedded,
    transaction: (fn) => db.transaction().execute((tx) => fn(repositories(tx, keys, connectionRunner(tx)))),
    ping: async (lockWaitMs) => {
      const readiness = await loginReadiness(conn.pool, lockWaitMs);
      // Read-only: every connection open may lead to the standby, reads and all (see WaitTellingPool.renew); and
      // once writable again, those opened since the last check may too.
      if (readiness === 'read-only' || wasReadOnly) renewConnections(conn);
      wasReadOnly = readiness === 'read-only';
      return readiness;
    },
    poolUsage: () =>
      (
        [
          ['main', conn.pool],
          ['audit', conn.auditPool],
          ['challenge', conn.challengePool],
          ['spend', conn.spendPool],
        ] as const
      ).map(([pool, p]) => ({ pool, open: p.totalCount, idle: p.idleCount, waiting: p.waitingCount })),
    async close() {
      await conn.close();
      await embedded?.release();
    },
  };
}

export interface Database {
  readonly url: string;
  readonly conn: Connection;
  readonly schema: SchemaVersion;
  /** The migrations this opening applied (with `migrate`), in order. */
  readonly applied: readonly string[];
  readonly embedded?: EmbeddedPostgresHandle;
  close(): Promise<void>;
}

/**
 * Connects to the configured database, or to the embedded one under dataDir, and migrates it (`migrate`) or
 * checks that it needs no migration. A schema a newer radotp migrated is opened, with a warning: during a
 * rolling upgrade older nodes must keep running on it (and restart on it).
 */
export async function openDatabase(cfg: LoadedConfig, opts: Omit<OpenOptions, 'createKey'> = {}): Promise<Database> {
  let embedded: EmbeddedPostgresHandle | undefined;
  let url = cfg.database.url;
  // Every command that migrates (serve, init, db migrate) checks here, before anything is migrated or created:
  // behind a pooler in transaction mode kysely's migrator takes its session-level advisory lock on one server
  // connection and may release it on another, leaving the lock held on a pooled connection and every later
  // migration, and serve's start, waiting on it (see session-pooling.ts for what else would go wrong).
  if (url && opts.migrate) await refuseTransactionPooling(url, databaseUrlOrigin(cfg, url));
  if (!url) {
    embedded = await acquireEmbeddedPostgres(cfg.dataDirPath, { logger: opts.logger });
    url = embedded.url;
  }
  /*
   * One warning per outage, not one per connection: a database that stops breaks every idle connection of
   * every pool at once, and each wrote its own 'database connection lost' (ten and more lines together). The
   * pools' next new connection says it is over, with how many connections were lost.
   */
  const lost = opts.logger && new RepeatedFailureLog(opts.logger, { failing: 'database connection lost', recovered: 'database connections open again' });
  const onError = (e: Error) => lost?.failed({ err: e.message });
  const onConnect = () => lost?.succeeded();
  const conn = connect(url, {
    poolSize: opts.poolSize ?? cfg.database.poolSize,
    applicationName: opts.applicationName,
    queryTimeoutMs: opts.queryTimeoutMs,
    onError,
    onConnect,
  });
  const close = async () => {
    await conn.close();
    await embedded?.release();
  };
  let schema: SchemaVersion;
  let applied: readonly string[] = [];
  try {
    if (opts.migrate) {
      // A migration (an index built over a long audit trail) may rightly outlast the serving query timeout.
      const migrating = connect(url, { poolSize: 1, applicationName: opts.applicationName, onError, onConnect });
      try {
        ({ version: schema, applied } = await migrateToLatest(migrating.db));
      } finally {
        await migrating.close();
      }
    } else {
      schema = await readSchemaVersion(conn.db);
      refuseDiverged(schema);
      if (schema.pending.length > 0) throw new SchemaBehindError(schema);
    }
  } catch (e) {
    // each migration commits on its own: those applied before one failed stay, and the log says so
    if (e instanceof MigrationError && e.applied.length > 0) opts.logger?.info({ migrations: e.applied }, 'applied schema migrations');
    await close();
    throw e;
  }
  if (applied.length > 0) opts.logger?.info({ migrations: applied }, 'applied schema migrations');
  const newer = newerSchemaWarning(schema);
  if (newer) opts.logger?.warn({ unknownMigrations: schema.unknown }, newer);
  return { url, conn, schema, applied, embedded, close };
}

/** Where database.url came from, for an error about it: $RADOTP_DATABASE_URL, or the config file's key. */
function databaseUrlOrigin(cfg: LoadedConfig, url: string): string {
  if (process.env.RADOTP_DATABASE_URL === url) return '$RADOTP_DATABASE_URL';
  return cfg.source ? `${cfg.source}: database.url` : 'database.url';
}

/**
 * Opens the store: the key ring plus the database (see openDatabase). A missing key file is created (with
 * `createKey`) only for a database that holds no sealed secret yet: otherwise keyFile is mistyped or lost,
 * and a new key would only seal new secrets that no node holding the real key could open.
 */
export async function openStore(cfg: LoadedConfig, opts: OpenOptions = {}): Promise<Store> {
  if (!opts.createKey || fs.existsSync(cfg.keyFilePath)) {
    const keys = loadKeyRing(cfg, false, opts.logger);
    const database = await openDatabase(cfg, opts);
    return buildStore(database.conn, keys, database.url, database.schema, database.embedded, database.applied);
  }
  const database = await openDatabase(cfg, opts);
  try {
    const sealed = await sealedCounts(database.conn.db);
    if (sealed.length > 0) {
      const where = cfg.source ? `${cfg.source}: keyFile` : 'keyFile';
      throw new KeyError(
        `${where}: ${cfg.keyFilePath} does not exist, but the database holds secrets sealed with key ${sealed.map((c) => c.keyId).join(', ')}; ` +
          "point keyFile at that key's file (a new key could not open them)",
      );
    }
    return buildStore(database.conn, loadKeyRing(cfg, true, opts.logger), database.url, database.schema, database.embedded, database.applied);
  } catch (e) {
    await database.close();
    throw e;
  }
}
