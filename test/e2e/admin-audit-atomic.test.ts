import pg from 'pg';
import { AppFromUri } from '../support/otp-codes';
import { cliFor, ok } from '../support/pool-cli';
import { startTestServer, type TestServer } from '../support/server';

/*
 * README: an admin's change "commits together with its row, or not at all". Here the audit row cannot be
 * written (a trigger refuses it, as a full disk or a read-only turn of the database would, between the change and
 * its row): the change must not stay without it. `token enroll` created its token in a statement of its own and
 * wrote the row after, so a refused row left a pending token the trail never mentioned.
 */

let t: TestServer;
let admin: pg.Client;
beforeAll(async () => {
  t = await startTestServer({ users: [{ username: 'uma', password: 'uma-password', method: 'token' }] });
  admin = new pg.Client({ connectionString: t.cfg.database.url });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await t?.close();
});

async function refuseAuditRowsOf(method: string): Promise<void> {
  await admin.query(`CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF NEW.method = '${method}' THEN RAISE EXCEPTION 'audit row refused (test)'; END IF; RETURN NEW; END $$`);
  await admin.query('DROP TRIGGER IF EXISTS refuse_audit ON audit_event');
  await admin.query('CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION refuse_audit()');
}

afterEach(() => admin.query('DROP TRIGGER IF EXISTS refuse_audit ON audit_event'));

const tokensOf = async (username: string) =>
  (await admin.query('SELECT t.serial FROM token t JOIN app_user u ON u.id = t.user_id WHERE u.username = $1', [username])).rows;

// [command, its audit method, what it would have made]: each change whose row is refused leaves nothing behind
const cases: [string[], string, () => Promise<unknown[]>][] = [
  [['token', 'enroll', 'uma', '--json'], 'token enroll', () => tokensOf('uma')],
  [['user', 'add', 'vic'], 'user add', async () => (await admin.query("SELECT username FROM app_user WHERE username = 'vic'")).rows],
];

test.each(cases)('%j: its row refused, the change is not made', async (args, method, made) => {
  await refuseAuditRowsOf(method);
  const r = await cliFor(t)(args);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('audit row refused');
  expect(await made()).toEqual([]);
});

test('with its row written, the enrollment is made', async () => {
  const out = JSON.parse(await ok(cliFor(t), ['token', 'enroll', 'uma', '--json'])) as { serial: string };
  expect(await tokensOf('uma')).toEqual([{ serial: out.serial }]);
});

/** A pending HOTP token of uma's, enrolled with its row, and the app holding its seed. */
async function pendingToken(): Promise<{ serial: string; app: AppFromUri }> {
  const out = JSON.parse(await ok(cliFor(t), ['token', 'enroll', 'uma', '--type', 'hotp', '--json'])) as { serial: string; otpauth_uri: string };
  return { serial: out.serial, app: new AppFromUri(out.otpauth_uri) };
}

const stateOf = async (serial: string) => (await admin.query('SELECT state, next_counter FROM token WHERE serial = $1', [serial])).rows[0];

test('token activate: its row refused, the token stays pending and its code unspent; then it activates', async () => {
  const { serial, app } = await pendingToken();
  await refuseAuditRowsOf('token activate');
  const r = await cliFor(t)(['token', 'activate', serial, app.hotp(0)]);
  expect({ code: r.code, refused: r.stderr.includes('audit row refused') }).toEqual({ code: 1, refused: true });
  expect(await stateOf(serial)).toEqual({ state: 'pending', next_counter: 0n });
  await admin.query('DROP TRIGGER refuse_audit ON audit_event');
  await ok(cliFor(t), ['token', 'activate', serial, app.hotp(0)]);
  expect(await stateOf(serial)).toEqual({ state: 'active', next_counter: 1n });
});

test('token verify: its row refused, the code is not spent; then it verifies', async () => {
  const { serial, app } = await pendingToken();
  await ok(cliFor(t), ['token', 'activate', serial, app.hotp(0)]);
  await refuseAuditRowsOf('token verify');
  const r = await cliFor(t)(['token', 'verify', serial, app.hotp(1)]);
  expect({ code: r.code, refused: r.stderr.includes('audit row refused') }).toEqual({ code: 1, refused: true });
  expect(await stateOf(serial)).toEqual({ state: 'active', next_counter: 1n });
  await admin.query('DROP TRIGGER refuse_audit ON audit_event');
  expect(await ok(cliFor(t), ['token', 'verify', serial, app.hotp(1)])).toBe('code accepted\n');
});
