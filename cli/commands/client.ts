import { Command, InvalidArgumentError, Option } from 'commander';
import { formatIpv4Cidr, parseCidr } from '../../src/radius/client-table';
import type { LoginStyle } from '../../src/store/schema';
import { REPLY_MESSAGE_AUTHENTICATOR_CHOICES, type ReplyMessageAuthenticator } from '../../src/radius/types';
import { CliError, printJson, printTable, readSecretFromStdin, UsageError } from '../io';
import { wantsJson, withAdminChange, withStore } from '../context';

const LOGIN_STYLES: LoginStyle[] = ['challenge', 'append', 'otp-only'];

/** --require-message-authenticator: yes, no, or auto (FreeRADIUS's word: required from a NAS once it has sent one). */
type RequireSetting = boolean | 'auto';

/** Option parsers: a bad value is a usage error that commander reports naming the option (exit 2). */
function yesNoAuto(value: string): RequireSetting {
  if (/^(yes|y|true|on)$/i.test(value)) return true;
  if (/^(no|n|false|off)$/i.test(value)) return false;
  if (/^auto$/i.test(value)) return 'auto';
  throw new InvalidArgumentError('Expected yes, no or auto.');
}

/** The two stored fields of one setting (see ClientRecord.learnMessageAuthenticator). */
function requireFields(setting: RequireSetting): { requireMessageAuthenticator: boolean; learnMessageAuthenticator: boolean } {
  return { requireMessageAuthenticator: setting === true, learnMessageAuthenticator: setting === 'auto' };
}

const REQUIRE_WARNING: Record<'no' | 'auto', string> = {
  no: 'radotp: warning: this client may send requests without Message-Authenticator (CVE-2024-3596)\n',
  auto: 'radotp: warning: this client may send requests without Message-Authenticator until one of its NASes has sent one; then that NAS must (CVE-2024-3596)\n',
};

function warnAboutRequire(setting: RequireSetting | undefined): void {
  if (setting === false) process.stderr.write(REQUIRE_WARNING.no);
  else if (setting === 'auto') process.stderr.write(REQUIRE_WARNING.auto);
}

const REQUIRE_HELP =
  'yes: refuse Access-Requests without Message-Authenticator (Blast-RADIUS defence); no: take them (a NAS that cannot send one); auto: take them from a NAS until it has sent one in an Access-Request, then refuse them from it (remembered per node until restart)';

function address(text: string): string {
  const r = parseCidr(text);
  // commander names the option and the value; the reason follows: "Host bits are set below the /8 prefix (…)."
  if (!r.ok) throw new InvalidArgumentError(`${sentence(r.error.replace(/^"[^"]*": /, ''))}.`);
  // an IPv4 network goes in as IPv4 however written, so the unique index sees "::ffff:192.0.2.10" as taken too
  return r.cidr.family === 4 ? formatIpv4Cidr(r.cidr) : text.trim();
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function secretFrom(opts: { secret?: string; secretStdin?: boolean }, required: boolean): Buffer | undefined {
  if (opts.secret !== undefined && opts.secretStdin) throw new UsageError('give --secret or --secret-stdin, not both');
  const text = opts.secretStdin ? readSecretFromStdin('the shared secret') : opts.secret;
  if (text === undefined) {
    if (required) throw new UsageError('a shared secret is required: --secret SECRET or --secret-stdin');
    return undefined;
  }
  if (text.length === 0) throw new UsageError('the shared secret must not be empty');
  // a quoting mistake (`--secret "$S"` with S a few spaces): no better than an empty secret
  if (text.trim() === '') throw new UsageError('the shared secret must not be only spaces');
  if (text.trim() !== text) {
    // Many NAS configurations trim the secret they are given: every request would then fail its authenticator check.
    process.stderr.write('radotp: warning: the shared secret begins or ends with a space: a NAS that trims its secret would then hold another one\n');
  }
  if (Buffer.byteLength(text) < 16) {
    // RFC 2865 §3: "It is preferred that the secret be at least 16 octets."
    process.stderr.write('radotp: warning: shared secrets shorter than 16 characters are easy to guess (RFC 2865 §3)\n');
  }
  return Buffer.from(text, 'utf8');
}

const replyOption = () =>
  new Option(
    '--reply-message-authenticator <when>',
    'always: every reply carries Message-Authenticator (Blast-RADIUS defence); if-requested: only when the request did, for a NAS that drops replies holding one',
  ).choices(REPLY_MESSAGE_AUTHENTICATOR_CHOICES);

const REPLY_WARNING =
  'radotp: warning: replies to this client carry Message-Authenticator only when its request does; without it the NAS cannot tell a forged reply (CVE-2024-3596)\n';

const loginOption = () =>
  new Option('--login <style>', 'how users of this NAS send the code: challenge, append or otp-only').choices(LOGIN_STYLES);

export function clientCommand(): Command {
  const cmd = new Command('client').description('RADIUS clients (NAS devices) allowed to send requests');

  cmd
    .command('add <name>')
    .description('allow a NAS (or a network of them) to send requests')
    .requiredOption('--address <cidr>', 'source address or network, e.g. 192.0.2.10, 10.0.0.0/8, 2001:db8::/32', address)
    .option('--secret <secret>', 'shared secret (prefer --secret-stdin: command lines are visible to other users)')
    .option('--secret-stdin', 'read the shared secret from standard input')
    // default(true, 'yes'): --help showed "(default: true)" for an option whose values are yes and no
    .addOption(new Option('--require-message-authenticator <yes|no|auto>', REQUIRE_HELP).argParser(yesNoAuto).default(true, 'yes'))
    .addOption(replyOption().default('always'))
    .addOption(loginOption().default('challenge'))
    .action(async (name: string, opts, command: Command) => {
      if (!/^[\w.@:-]{1,64}$/.test(name)) throw new UsageError('client names are 1-64 letters, digits, "_", "-", ".", "@" or ":"');
      const address: string = opts.address;
      const requireMA: RequireSetting = opts.requireMessageAuthenticator;
      const replyMA: ReplyMessageAuthenticator = opts.replyMessageAuthenticator;
      const secret = secretFrom(opts, true)!;
      await withAdminChange(command, async (tx, audit) => {
        await tx.clients.add({ name, address, secret, ...requireFields(requireMA), replyMessageAuthenticator: replyMA, loginStyle: opts.login });
        await audit({
          client: name,
          method: 'client add',
          reason: 'added',
          detail: { address, ...requireFields(requireMA), replyMessageAuthenticator: replyMA, loginStyle: opts.login },
        });
      });
      warnAboutRequire(requireMA);
      if (replyMA === 'if-requested') process.stderr.write(REPLY_WARNING);
      process.stdout.write(`client ${name} added\n`);
    });

  cmd
    .command('set <name>')
    .description('change a client')
    .option('--address <cidr>', 'source address or network', address)
    .option('--secret <secret>', 'new shared secret (prefer --secret-stdin: command lines are visible to other users)')
    .option('--secret-stdin', 'read the new shared secret from standard input')
    .option('--require-message-authenticator <yes|no|auto>', REQUIRE_HELP, yesNoAuto)
    .addOption(replyOption())
    .addOption(loginOption())
    .action(async (name: string, opts, command: Command) => {
      const requireMA = opts.requireMessageAuthenticator as RequireSetting | undefined;
      const change = {
        address: opts.address as string | undefined,
        secret: secretFrom(opts, false),
        ...(requireMA === undefined ? {} : requireFields(requireMA)),
        replyMessageAuthenticator: opts.replyMessageAuthenticator as ReplyMessageAuthenticator | undefined,
        loginStyle: opts.login as LoginStyle | undefined,
      };
      if (Object.values(change).every((v) => v === undefined)) throw new UsageError('nothing to change: give at least one option');
      await withAdminChange(command, async (tx, audit) => {
        await tx.clients.update(name, change);
        // what changed, never the secret itself
        const { secret, ...settings } = change;
        await audit({ client: name, method: 'client set', reason: 'changed', detail: { ...settings, secretChanged: secret !== undefined } });
      });
      warnAboutRequire(requireMA);
      if (change.replyMessageAuthenticator === 'if-requested') process.stderr.write(REPLY_WARNING);
      process.stdout.write(`client ${name} updated\n`);
    });

  cmd
    .command('list')
    .description('list clients (never their secrets)')
    .option('--json', 'print JSON')
    .action(async (_opts, command: Command) => {
      const clients = await withStore(command, (store) => store.clients.list());
      if (wantsJson(command)) return printJson(clients);
      printTable(
        ['NAME', 'ADDRESS', 'MESSAGE-AUTHENTICATOR', 'LOGIN', 'M-A IN REPLIES'],
        clients.map((c) => [c.name, c.address, c.requireMessageAuthenticator ? 'required' : c.learnMessageAuthenticator ? 'auto' : 'optional', c.loginStyle, c.replyMessageAuthenticator]),
      );
    });

  cmd
    .command('remove <name>')
    .description('stop accepting requests from a client')
    .action(async (name: string, _opts, command: Command) => {
      await withAdminChange(command, async (tx, audit) => {
        await tx.clients.remove(name);
        await audit({ client: name, method: 'client remove', reason: 'removed' });
      });
      process.stdout.write(`client ${name} removed\n`);
    });

  return cmd;
}
