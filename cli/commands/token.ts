import { Command, InvalidArgumentError, Option } from 'commander';
import { hasControlCharacter } from '../../src/lang/control-characters';
import QRCode from 'qrcode';
import { verifierSettings } from '../../src/app/pipeline';
import { TokenVerifier } from '../../src/auth/token-verifier';
import type { LoadedConfig } from '../../src/config/load';
import type { Store, TransactionStore } from '../../src/store/open';
import type { DisabledReason, TokenState } from '../../src/store/schema';
import type { TokenInfo } from '../../src/store/tokens';
import { TokenAdmin, type AdminTransaction, type Enrollment } from '../../src/tokens/admin';
import { DatabaseClock } from '../../src/store/database-clock';
import { resolveSerial } from '../../src/tokens/serial-lookup';
import { CliError, createSecretFile, digitsOnly, fileName, printFields, printJson, printTable, UsageError } from '../io';
import { addImportCommand } from './token-import';
import type { AdminAuditWriter } from '../../src/store/audit';
import { adminAudit, wantsJson, withAdminChange, withStore } from '../context';

const STATES: TokenState[] = ['pending', 'active', 'unassigned', 'disabled'];
const REASONS: DisabledReason[] = ['lost', 'stolen', 'broken', 'retired', 'other'];

/**
 * Codes, locks and a pending token's expiry go by the database's clock, as on the servers (see DatabaseClock):
 * an admin machine's clock a few seconds off must not learn a drift the nodes then read against theirs.
 */
async function adminFor(store: TransactionStore, cfg: LoadedConfig, audit: AdminAuditWriter = adminAudit(store, cfg), transactions?: Store): Promise<TokenAdmin> {
  const clock = await DatabaseClock.read(store.db);
  const verifierOn = (s: Pick<TransactionStore, 'tokens' | 'keys'>) => new TokenVerifier(s.tokens, s.keys, verifierSettings(cfg), clock.now);
  // a change and its row in one transaction of `transactions` (see AdminTransaction)
  const transaction: AdminTransaction | undefined =
    transactions && ((change) => transactions.transaction((tx) => change({ tokens: tx.tokens, verifier: verifierOn(tx) }, adminAudit(tx, cfg))));
  return new TokenAdmin(store, verifierOn(store), { pendingTokenTtl: cfg.auth.pendingTokenTtl, audit, transaction }, clock.now);
}

/**
 * For the commands that decide on a code (activate, verify) and enrollment: no transaction around the command,
 * but each write with its audit row in one of its own. A wrong code must stay counted toward the lockout although
 * the command then fails, and enrollment draws a new serial after a unique violation, which aborts a transaction.
 */
function withAdmin<T>(cmd: Command, fn: (admin: TokenAdmin, store: Store, cfg: LoadedConfig) => Promise<T>): Promise<T> {
  return withStore(cmd, async (store, cfg) => fn(await adminFor(store, cfg, adminAudit(store, cfg), store), store, cfg));
}

/** withAdmin on the token an admin typed the serial of, ignoring case (see resolveSerial); with its serial. */
function withAdminOn<T>(cmd: Command, typed: string, fn: (admin: TokenAdmin, serial: string) => Promise<T>): Promise<OnToken<T>> {
  return withAdmin(cmd, async (admin, store) => {
    const serial = await resolveSerial(store.tokens, typed);
    return { serial, result: await fn(admin, serial) };
  });
}

/**
 * For a change to a token: the change and its audit row in one transaction (see withAdminChange), on the token
 * an admin typed the serial of, ignoring case (see resolveSerial); with its serial, for what is printed.
 */
async function changeToken<T>(cmd: Command, typed: string, fn: (admin: TokenAdmin, serial: string) => Promise<T>): Promise<OnToken<T>> {
  return withAdminChange(cmd, async (tx, audit, cfg) => {
    const serial = await resolveSerial(tx.tokens, typed);
    return { serial, result: await fn(await adminFor(tx, cfg, audit), serial) };
  });
}

/** What a command did to a token, and the token's serial as stored (an admin may have typed it in another case). */
interface OnToken<T> {
  readonly serial: string;
  readonly result: T;
}

/**
 * The admin's view of a token: everything but the seed. `nowMs` is the database's clock (DatabaseClock), by which
 * `token list --locked`, `token verify` and the servers decide a lock: by the admin machine's wall clock, one
 * running ahead listed a locked token with no lock, and one running behind showed a lock the servers no longer keep.
 */
export function tokenView(t: TokenInfo, nowMs: number) {
  return {
    serial: t.serial,
    user: t.username,
    state: t.state,
    type: t.kind,
    origin: t.origin,
    algorithm: t.algorithm,
    digits: t.digits,
    period: t.kind === 'totp' ? t.period : undefined,
    ocraSuite: t.ocraSuite ?? undefined,
    counter: t.kind !== 'totp' ? t.nextCounter : undefined,
    lastStep: t.kind === 'totp' && t.lastStep >= 0n ? t.lastStep : undefined,
    driftSteps: t.kind === 'totp' ? t.drift : undefined,
    driftSeconds: t.kind === 'totp' ? t.drift * t.period : undefined,
    failCount: t.failCount,
    // a lock that has run out is no lock (a login no longer clears the column, see migration 0005)
    lockedUntil: t.lockedUntil !== null && t.lockedUntil.getTime() > nowMs ? t.lockedUntil : null,
    description: t.description,
    issuer: t.issuer,
    manufacturer: t.manufacturer,
    model: t.model,
    validFrom: t.validFrom,
    validTo: t.validTo,
    disabledReason: t.disabledReason,
    disabledNote: t.disabledNote,
    pendingExpiresAt: t.pendingExpiresAt,
    lastUsedAt: t.lastUsedAt,
    createdAt: t.createdAt,
  };
}

function printToken(cmd: Command, t: TokenInfo, nowMs: number): void {
  const view = tokenView(t, nowMs);
  if (wantsJson(cmd)) return printJson(view);
  printFields(Object.entries(view).filter(([, v]) => v !== undefined));
}

/** A QR code, or one clear line when the key URI is more than a QR code holds (a very long issuer or name). */
async function qrCode<T>(make: () => Promise<T>): Promise<T> {
  try {
    return await make();
  } catch (e) {
    throw new CliError(`the otpauth URI does not fit in a QR code (${(e as Error).message}); use a shorter --issuer`);
  }
}

/** Option parser: the issuer rules of auth.issuer in the config (a usage error naming the option). */
function issuer(value: string): string {
  if (value.length < 1 || value.length > 64) throw new InvalidArgumentError('It must be 1 to 64 characters.');
  if (value.includes(':')) throw new InvalidArgumentError('It must not contain ":" (it separates issuer and account in an otpauth label).');
  if (hasControlCharacter(value)) throw new InvalidArgumentError('It must not contain control characters.');
  return value;
}

/** Option/argument parser for a token's description: one line an admin reads in `token list`. */
function description(value: string): string {
  if (value.length > 200) throw new InvalidArgumentError('It must be at most 200 characters.');
  if (hasControlCharacter(value)) throw new InvalidArgumentError('It must not contain control characters.');
  return value;
}

function checkCode(code: string): string {
  if (!/^\d{4,10}$/.test(code) && !/^[0-9a-fA-F]{11,128}$/.test(code)) throw new UsageError('a code is 4 to 10 digits');
  return code;
}

/** A usage error (exit 2, reported by commander with the option's name) unless the value is one of `allowed`. */
function intChoice(allowed: number[]) {
  return (v: string) => {
    const n = digitsOnly(v);
    if (!allowed.includes(n)) throw new InvalidArgumentError(`Allowed choices are ${allowed.join(', ')}.`);
    return n;
  };
}

/**
 * Filters no token can match together (a pool token belongs to no user; an active or pending one to a user)
 * listed nothing with exit 0, which read as "no such token": a usage error instead, naming both.
 */
function refuseFiltersMatchingNothing(opts: { user?: string; state?: TokenState; unassigned?: boolean }): void {
  const exclusive = (a: string, b: string, why: string) => new UsageError(`${a} and ${b} exclude each other: ${why}`);
  if (opts.user !== undefined && opts.unassigned) throw exclusive('--user', '--unassigned', 'a token in the pool belongs to no user');
  if (opts.user !== undefined && opts.state === 'unassigned') throw exclusive('--user', '--state unassigned', 'a token in the pool belongs to no user');
  if (opts.unassigned && (opts.state === 'active' || opts.state === 'pending')) {
    throw exclusive('--unassigned', `--state ${opts.state}`, `${opts.state === 'active' ? 'an active' : 'a pending'} token belongs to a user`);
  }
}

export function tokenCommand(): Command {
  const cmd = new Command('token').description('OTP tokens: software enrollment, hardware pool, lifecycle');
  cmd.addHelpText(
    'after',
    `
A SERIAL is found ignoring case (gal12345678 for GAL12345678): the token of exactly that serial, else the one
token whose serial differs only by case. Several such are named, and nothing is done.`,
  );

  cmd
    .command('enroll <username>')
    .description('create a pending software token (authenticator app) and show its QR code once')
    .addOption(new Option('--type <type>', 'totp (time-based) or hotp (counter-based)').choices(['totp', 'hotp']).default('totp'))
    .addOption(new Option('--algorithm <alg>', 'HMAC hash').choices(['sha1', 'sha256', 'sha512']).default('sha1'))
    .option('--digits <n>', 'code length: 6 or 8', intChoice([6, 8]), 6)
    .option('--period <s>', 'TOTP step in seconds: 30 or 60 (not for --type hotp)', intChoice([30, 60]), 30)
    .option('--issuer <name>', 'issuer shown in the app, 1-64 characters (default: auth.issuer)', issuer)
    .option('--description <text>', 'a note for admins (up to 200 characters)', description)
    .option('--qr-png <file>', 'also write the QR code as a PNG file (a new file, readable by its owner only)', fileName)
    .option('--json', 'print JSON (no terminal QR code)')
    .action(async (username: string, opts, command: Command) => {
      // --period was ignored for an HOTP token (exit 0): whoever typed it meant a TOTP token, or the wrong option.
      if (opts.type === 'hotp' && command.getOptionValueSource('period') === 'cli') {
        throw new UsageError('--period is the time step of a TOTP token; an HOTP token (--type hotp) has none');
      }
      // The file is created before the token, so a path that cannot be written leaves no token behind.
      const png = opts.qrPng !== undefined ? createSecretFile(opts.qrPng) : undefined;
      const json = wantsJson(command);
      const qr: { png?: Buffer; text?: string } = {};
      let enrollment: Enrollment;
      try {
        enrollment = await withAdmin(command, (admin, _s, cfg) =>
          admin.enroll({
            username,
            type: opts.type,
            algorithm: opts.algorithm,
            digits: opts.digits,
            period: opts.period,
            issuer: opts.issuer ?? cfg.auth.issuer,
            description: opts.description,
            present: async (uri) => {
              qr.png = png ? await qrCode(() => QRCode.toBuffer(uri, { type: 'png', width: 320, margin: 2 })) : undefined;
              qr.text = json ? undefined : await qrCode(() => QRCode.toString(uri, { type: 'utf8', margin: 2 }));
            },
          }),
        );
      } catch (e) {
        png?.discard();
        throw e;
      }
      if (png && qr.png) png.write(qr.png);
      if (enrollment.warning) process.stderr.write(`radotp: warning: ${enrollment.warning}\n`);
      const t = enrollment.token;
      if (json) {
        return printJson({
          serial: t.serial,
          otpauth_uri: enrollment.otpauthUri,
          state: t.state,
          user: t.username,
          type: t.kind,
          algorithm: t.algorithm,
          digits: t.digits,
          period: t.kind === 'totp' ? t.period : undefined,
          pending_expires_at: t.pendingExpiresAt,
          qr_png: opts.qrPng,
        });
      }
      process.stdout.write(qr.text + '\n');
      printFields([
        ['serial', t.serial],
        ['user', t.username],
        ['state', `${t.state} (activate with: radotp token activate ${t.serial} CODE)`],
        ['otpauth URI', enrollment.otpauthUri],
        ['secret', `${enrollment.secretBase32} (shown this once)`],
        ['expires', t.pendingExpiresAt],
      ]);
    });

  cmd
    .command('activate <serial> <code>')
    .description('activate a pending token with a code it shows now')
    .action(async (typed: string, code: string, _o, command: Command) => {
      const { result: t } = await withAdminOn(command, typed, (admin, serial) => admin.activate(serial, checkCode(code)));
      process.stdout.write(`token ${t.serial} is active\n`);
    });

  cmd
    .command('list')
    .description('list tokens')
    .option('--user <username>', 'only tokens of this user')
    .addOption(new Option('--state <state>', 'only tokens in this state').choices(STATES))
    .option('--unassigned', 'only tokens in the pool (not assigned to anyone)')
    .option('--locked', 'only tokens locked now by wrong codes (unlock with `token unlock`)')
    .option('--json', 'print JSON')
    .action(async (opts, command: Command) => {
      refuseFiltersMatchingNothing(opts);
      const { tokens, nowMs } = await withStore(command, async (store) => {
        // a user that does not exist is a mistyped name, not a user without tokens
        if (opts.user !== undefined) await store.users.get(opts.user);
        const tokens = await store.tokens.list({ username: opts.user, state: opts.state, unassigned: opts.unassigned, locked: opts.locked });
        return { tokens, nowMs: (await DatabaseClock.read(store.db)).nowMs() };
      });
      if (wantsJson(command)) return printJson(tokens.map((t) => tokenView(t, nowMs)));
      printTable(
        ['SERIAL', 'USER', 'STATE', 'LOCKED UNTIL', 'TYPE', 'ORIGIN', 'DIGITS', 'REASON', 'DESCRIPTION'],
        tokens.map((t) => {
          const v = tokenView(t, nowMs);
          return [t.serial, t.username, t.state, v.lockedUntil?.toISOString(), t.kind, t.origin, t.digits, t.disabledReason, t.description];
        }),
      );
    });

  cmd
    .command('show <serial>')
    .description('show one token (never its secret)')
    .option('--json', 'print JSON')
    .action(async (typed: string, _o, command: Command) => {
      const { token, nowMs } = await withStore(command, async (store) => ({
        token: await store.tokens.get(await resolveSerial(store.tokens, typed)),
        nowMs: (await DatabaseClock.read(store.db)).nowMs(),
      }));
      printToken(command, token, nowMs);
    });

  cmd
    .command('verify <serial> <code>')
    .description('check a code (admin test) of an active token, or of one in the pool (it stays there); a verified code counts as used, a wrong one toward the lockout, as at a login')
    .action(async (typed: string, code: string, _o, command: Command) => {
      const { serial, result: r } = await withAdminOn(command, typed, (admin, serial) => admin.verify(serial, checkCode(code)));
      // 'locked' alone said neither until when nor the way out
      if (r.lockedUntil) throw new CliError(`code rejected (locked until ${r.lockedUntil.toISOString()} after wrong codes; \`radotp token unlock ${serial}\` clears the lock)`);
      if (!r.ok) throw new CliError(`code rejected (${r.result.replace('_', ' ')})`);
      process.stdout.write('code accepted\n');
    });

  cmd
    .command('describe')
    .description("set a token's description")
    .argument('<serial>')
    .argument('<text>', 'the description, up to 200 characters ("" clears it)', description)
    .action(async (typed: string, text: string, _o, command: Command) => {
      const { serial } = await changeToken(command, typed, (admin, serial) => admin.describe(serial, text));
      process.stdout.write(text === '' ? `token ${serial}: description cleared\n` : `token ${serial} described\n`);
    });

  cmd
    .command('unlock <serial>')
    .description('clear the failure count and lock of a token')
    .action(async (typed: string, _o, command: Command) => {
      const { serial } = await changeToken(command, typed, (admin, serial) => admin.unlock(serial));
      process.stdout.write(`token ${serial} unlocked\n`);
    });

  cmd
    .command('delete <serial>')
    .description('delete a token (its user stays; its used codes stay used should its serial be imported again with the same seed)')
    .action(async (typed: string, _o, command: Command) => {
      const { serial } = await changeToken(command, typed, (admin, serial) => admin.delete(serial));
      process.stdout.write(`token ${serial} deleted\n`);
    });

  cmd
    .command('assign <serial> <username>')
    .description('hand a token from the pool to a user')
    .action(async (typed: string, username: string, _o, command: Command) => {
      const { serial, result: assigned } = await changeToken(command, typed, (admin, serial) => admin.assign(serial, username));
      process.stdout.write(`token ${serial} assigned to ${username}\n`);
      if (assigned.warning) process.stderr.write(`radotp: warning: ${assigned.warning}\n`);
    });

  cmd
    .command('unassign <serial>')
    .description('return a hardware token to the pool (its used codes stay used)')
    .action(async (typed: string, _o, command: Command) => {
      const { serial, result: t } = await changeToken(command, typed, (admin, serial) => admin.unassign(serial));
      // a lost or stolen token stays disabled in the pool (TokenAdmin.unassign): say so, or it reads as ready to hand out
      const still = t.state === 'disabled' ? `, still disabled (${t.disabledReason}): enable it before handing it out again` : '';
      process.stdout.write(`token ${serial} returned to the pool${still}\n`);
    });

  cmd
    .command('disable <serial>')
    .description('stop a token from authenticating (lost, stolen, broken...); of a disabled token, change the reason and note')
    .addOption(new Option('--reason <reason>', 'why').choices(REASONS).makeOptionMandatory())
    // shown by `token show` as the description is: the same rules (a line break or an escape sequence was stored as given)
    .option('--note <text>', 'free text for admins (up to 200 characters)', description)
    .action(async (typed: string, opts, command: Command) => {
      const { serial, result: t } = await changeToken(command, typed, (admin, serial) => admin.disable(serial, opts.reason, opts.note));
      process.stdout.write(`token ${serial} disabled (${opts.reason}${t.reasonBefore ? `; was ${t.reasonBefore}` : ''})\n`);
    });

  cmd
    .command('enable <serial>')
    .description('re-enable a disabled token')
    .action(async (typed: string, _o, command: Command) => {
      const { serial, result: t } = await changeToken(command, typed, (admin, serial) => admin.enable(serial));
      process.stdout.write(`token ${serial} enabled (${t.state})\n`);
      if (t.warning) process.stderr.write(`radotp: warning: ${t.warning}\n`);
    });

  cmd
    .command('resync <serial> <code1> <code2>')
    .description('resynchronise a drifted token with two consecutive codes')
    .action(async (typed: string, code1: string, code2: string, _o, command: Command) => {
      const { serial, result: t } = await changeToken(command, typed, (admin, serial) => admin.resync(serial, checkCode(code1), checkCode(code2)));
      const where = t.kind === 'totp' ? `drift ${t.drift * t.period} s` : `counter ${t.nextCounter}`;
      process.stdout.write(`token ${serial} resynchronised (${where})\n`);
    });

  addImportCommand(cmd);
  return cmd;
}
