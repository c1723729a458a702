import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { Migration } from 'kysely';
import { createKeyFile } from '../../src/secrets/keyring';
import { connect, type Connection } from '../../src/store/connect';
import { migrateToLatest } from '../../src/store/migrate';
import { cliEnv, linesOf, RADOTP_BIN, runCli, type CliResult } from '../support/cli';
import { appliedMigrations, DIVERGED, KNOWN, LAST, NEWER, NEWER_WARNING, OLDER, OTHER_LINE } from '../support/schema-versions';
import { ServeProcess } from '../support/serve-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/*
 * An admin's radotp meets databases of other releases: only init, db migrate and serve change the schema;
 * every other command refuses a schema it would need to migrate, and works (with a warning) on one a newer
 * radotp has migrated. Each describe has its own database, brought to another release's schema, and a
 * folder holding radotp.yaml and the key file (the key file exists: this is a node joining a cluster).
 */

const SECRET = 'schema-versions-secret-1f0e9d8c';

interface Setup {
  db: TestDatabase;
  conn: Connection;
  dir: string;
  radotp(args: readonly string[], stdin?: string): Promise<CliResult>;
}

/** A database migrated by the release whose migration list is `release` (none: an empty database). */
function databaseOf(release: Record<string, Migration> | undefined): Setup {
  const setup = {} as Setup;
  beforeAll(async () => {
    setup.db = await createTestDatabase();
    setup.conn = connect(setup.db.url, { poolSize: 1 });
    if (release) await migrateToLatest(setup.conn.db, release);
    setup.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radotp-schema-cli-'));
    fs.writeFileSync(path.join(setup.dir, 'radotp.yaml'), `dataDir: ./data\nkeyFile: ./master.key\ndatabase:\n  url: ${setup.db.url}\nlog:\n  level: silent\n`);
    createKeyFile(path.join(setup.dir, 'master.key'));
    setup.radotp = (args, stdin) => runCli(args, { cwd: setup.dir, stdin });
  });
  afterAll(async () => {
    await setup.conn?.close();
    await setup.db?.drop();
    if (setup.dir) fs.rmSync(setup.dir, { recursive: true, force: true });
  });
  return setup;
}

/** What a refused command must not have changed: the schema's objects, the migrations recorded, the rows. */
async function snapshot(conn: Connection): Promise<unknown> {
  const relations = await sql<{ relname: string }>`
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY c.relname`.execute(conn.db);
  const names = relations.rows.map((r) => r.relname);
  const rows: Record<string, number> = {};
  for (const table of ['app_user', 'client', 'token', 'audit_event'].filter((t) => names.includes(t))) {
    rows[table] = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(conn.db)).rows[0]!.n;
  }
  return { relations: names, migrations: await appliedMigrations(conn.db), rows };
}

/**
 * Commands that read or change data, none of which may migrate. [name, arguments, standard input]: every row
 * has all three, as jest takes a callback with more parameters than its row has values for one wanting `done`.
 */
type Row = [string, string[], string | undefined];
const COMMANDS: Row[] = [
  ['user list', ['user', 'list'], undefined],
  ['user add', ['user', 'add', 'early', '--password-stdin'], 'early password\n'],
  ['client add', ['client', 'add', 'nas', '--address', '192.0.2.1', '--secret', SECRET], undefined],
  ['keys status', ['keys', 'status'], undefined],
];

/** The audit rows of schema changes, oldest first. */
async function migrationRows(conn: Connection): Promise<unknown[]> {
  const rows = await sql<{ result: string; reason: string; method: string; detail: { applied: string[]; admin: string } }>`
    SELECT result, reason, method, detail FROM audit_event WHERE reason = 'migrated' ORDER BY id`.execute(conn.db);
  return rows.rows.map((r) => ({ result: r.result, reason: r.reason, method: r.method, applied: r.detail.applied, admin: r.detail.admin }));
}

function expectRefusal(r: CliResult, line: string): void {
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 1, stdout: '', stderr: `radotp: ${line}\n` });
}

describe('a database of the release before (one migration pending)', () => {
  const s = databaseOf(OLDER);

  test.each(COMMANDS)('radotp %s refuses in one line, naming `radotp db migrate`, and migrates nothing', async (_name, args, stdin) => {
    const before = await snapshot(s.conn);
    expectRefusal(await s.radotp(args, stdin), 'the database schema is older than this radotp (1 migration pending): run `radotp db migrate`');
    expect(await snapshot(s.conn)).toEqual(before);
    expect(await appliedMigrations(s.conn.db)).toEqual(Object.keys(OLDER));
  });

  test('radotp db migrate applies the pending migration; then user list works', async () => {
    expect(await s.radotp(['db', 'migrate'])).toEqual({ code: 0, stdout: `applied: ${LAST}\n`, stderr: '' });
    expect(await appliedMigrations(s.conn.db)).toEqual(KNOWN);
    // a change of the schema is an admin's change like any other: audited, with what was applied and who applied it
    expect(await migrationRows(s.conn)).toEqual([{ result: 'admin', reason: 'migrated', method: 'db migrate', applied: [LAST], admin: expect.any(String) }]);
    expect(await s.radotp(['db', 'migrate'])).toEqual({ code: 0, stdout: 'schema is up to date\n', stderr: '' });
    expect(await migrationRows(s.conn)).toHaveLength(1); // nothing applied, nothing changed: no row
    expect(await s.radotp(['user', 'list', '--json'])).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
  });
});

/** The audit rows of schema changes that `radotp serve` made, with the node that made each, oldest first. */
async function serveMigrationRows(conn: Connection): Promise<unknown[]> {
  const rows = await sql<{ node: string; result: string; method: string; detail: { applied: string[] } }>`
    SELECT node, result, method, detail FROM audit_event WHERE reason = 'migrated' ORDER BY id`.execute(conn.db);
  return rows.rows.map((r) => ({ node: r.node, result: r.result, method: r.method, applied: r.detail.applied }));
}

describe('a database of the release before, upgraded nodes starting together', () => {
  const s = databaseOf(OLDER);

  /** `radotp serve` as node `node`, on a port of its own, until it serves. */
  async function serveAs(node: string): Promise<ServeProcess> {
    const config = path.join(s.dir, `${node}.yaml`);
    fs.writeFileSync(config, `dataDir: ./data\nkeyFile: ./master.key\nnode:\n  name: ${node}\ndatabase:\n  url: ${s.db.url}\nradius:\n  listen: ["127.0.0.1:0"]\nhttp:\n  listen: null\nlog:\n  level: info\n`);
    return ServeProcess.spawn([process.execPath, RADOTP_BIN, 'serve', '--config', config], cliEnv());
  }

  test('the node that applies the pending migration audits it, once, under its name; a node starting on the migrated schema writes nothing', async () => {
    const nodes = [await serveAs('radius-1'), await serveAs('radius-2')];
    try {
      await Promise.all(nodes.map((n) => n.serving()));
    } finally {
      for (const n of nodes) expect((await n.terminate()).code).toBe(0);
    }
    expect(await appliedMigrations(s.conn.db)).toEqual(KNOWN);
    // the row is written behind the start, as a login's is: terminate() flushed it
    const rows = await serveMigrationRows(s.conn);
    expect(rows).toEqual([{ node: expect.stringMatching(/^radius-[12]$/), result: 'admin', method: 'serve', applied: [LAST] }]);

    const again = await serveAs('radius-3');
    try {
      await again.serving();
    } finally {
      expect((await again.terminate()).code).toBe(0);
    }
    expect(await serveMigrationRows(s.conn)).toEqual(rows); // nothing applied: no row
  }, 120_000);
});

describe('an empty database (a node joining with the key file, before anything ran)', () => {
  const s = databaseOf(undefined);

  test.each(COMMANDS)('radotp %s refuses in one line, naming `radotp init`, and creates nothing', async (_name, args, stdin) => {
    expectRefusal(await s.radotp(args, stdin), `the database has no radotp schema yet (${KNOWN.length} migrations pending): run \`radotp init\``);
    expect(await snapshot(s.conn)).toEqual({ relations: [], migrations: [], rows: {} });
  });

  test('radotp init creates the schema; then user list works', async () => {
    const init = await s.radotp(['init']);
    expect({ code: init.code, stderr: init.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await appliedMigrations(s.conn.db)).toEqual(KNOWN);
    expect(await migrationRows(s.conn)).toEqual([{ result: 'admin', reason: 'migrated', method: 'init', applied: KNOWN, admin: expect.any(String) }]);
    expect(await s.radotp(['user', 'list', '--json'])).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
  });
});

describe('a schema a newer radotp migrated (mid rolling upgrade)', () => {
  const s = databaseOf(NEWER);
  const warning = `radotp: warning: ${NEWER_WARNING}\n`;

  // [name, arguments, standard input, what it prints]
  const works: [string, string[], string | undefined, RegExp][] = [
    ['user list --json', ['user', 'list', '--json'], undefined, /^\[\]\n$/],
    ['user add', ['user', 'add', 'ann', '--password-stdin'], 'ann password\n', /^user ann added \(method password\)\n$/],
    ['client add', ['client', 'add', 'nas', '--address', '192.0.2.1', '--secret', SECRET], undefined, /^client nas added\n$/],
    ['db migrate', ['db', 'migrate'], undefined, /^nothing to apply\n$/],
    ['db migrate --json', ['db', 'migrate', '--json'], undefined, /^\{\n {2}"applied": \[\]\n\}\n$/],
    ['init', ['init'], undefined, /^key file: .*\ndatabase: ready\n$/],
  ];
  test.each(works)('radotp %s works, with one warning line naming the newer migration, and migrates nothing', async (_name, args, stdin, stdout) => {
    const r = await s.radotp(args, stdin);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: warning });
    expect(r.stdout).toMatch(stdout);
    expect(await appliedMigrations(s.conn.db)).toEqual([...KNOWN, '0099_newer_table']);
  });

  test('radotp serve starts, and logs one warning naming the newer migration', async () => {
    const config = path.join(s.dir, 'serve.yaml');
    fs.writeFileSync(config, `dataDir: ./data\nkeyFile: ./master.key\ndatabase:\n  url: ${s.db.url}\nradius:\n  listen: ["127.0.0.1:0"]\nhttp:\n  listen: null\nlog:\n  level: info\n`);
    const serve = ServeProcess.spawn([process.execPath, RADOTP_BIN, 'serve', '--config', config], cliEnv());
    try {
      await serve.serving();
    } finally {
      expect((await serve.terminate()).code).toBe(0);
    }
    const warnings = linesOf(serve.output)
      .map((line) => JSON.parse(line) as { level: number | string; msg: string; unknownMigrations?: string[] })
      .filter((l) => l.level === 40 || l.level === 'warn');
    expect(warnings).toEqual([expect.objectContaining({ msg: NEWER_WARNING, unknownMigrations: ['0099_newer_table'] })]);
    expect(await appliedMigrations(s.conn.db)).toEqual([...KNOWN, '0099_newer_table']);
  }, 120_000);
});

describe('a schema migrated by another line of radotp (diverged)', () => {
  const s = databaseOf(OTHER_LINE);

  const commands: Row[] = [COMMANDS[0]!, ['db migrate', ['db', 'migrate'], undefined], ['init', ['init'], undefined], ['serve', ['serve'], undefined]];
  test.each(commands)(
    'radotp %s refuses in one line, and changes nothing',
    async (_name, args, stdin) => {
      const before = await snapshot(s.conn);
      expectRefusal(await s.radotp(args, stdin), DIVERGED);
      expect(await snapshot(s.conn)).toEqual(before);
    },
  );
});
