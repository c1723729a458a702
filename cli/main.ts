import { Command, CommanderError, Option } from 'commander';
import { packageVersion } from '../src/app/package-root';
import { ConfigError } from '../src/config/load';
import { clientCommand } from './commands/client';
import { printable } from '../src/lang/control-characters';
import { auditCommand, dbCommand, initCommand, serveCommand } from './commands/server';
import { keysCommand } from './commands/keys';
import { tokenCommand } from './commands/token';
import { oneLineForMissingCommand, refuseRepeatedOptions, strayWordIsUnknownCommand, versionAlone } from './strict-usage';
import { userCommand } from './commands/user';

export function buildProgram(): Command {
  const program = new Command('radotp').description('RADIUS authentication server with a one-time-password second factor');
  versionAlone(program, packageVersion);
  program
    .addOption(
      new Option('-c, --config <file>', 'config file (default: $RADOTP_CONFIG, else ./radotp.yaml; absent means defaults)').env('RADOTP_CONFIG'),
    )
    .enablePositionalOptions(false);
  for (const sub of [serveCommand(), initCommand(), dbCommand(), clientCommand(), userCommand(), tokenCommand(), keysCommand(), auditCommand()]) program.addCommand(sub);
  // Every (sub)command accepts --config too, so it can go anywhere on the line.
  const addConfig = (c: Command) => {
    if (c !== program) c.option('-c, --config <file>', 'config file (default: $RADOTP_CONFIG, else ./radotp.yaml)');
    c.exitOverride();
    c.configureOutput({ outputError: (text, write) => write(usageErrorText(text)) });
    withoutOptionValues(c);
    oneLineForMissingCommand(c);
    strayWordIsUnknownCommand(c); // after withoutOptionValues: it wraps unknownOption again
    refuseRepeatedOptions(c);
    c.commands.forEach(addConfig);
  };
  addConfig(program);
  return program;
}

/**
 * commander's "unknown option" error quotes the whole word, value included: `user add bob --password=hunter2`
 * (there is no --password: passwords come on stdin) printed "unknown option '--password=hunter2'", putting
 * the password in a terminal's scrollback or a job's log. Only the option's name is quoted now
 * ('--password'; '-p' of '-phunter2'), and commander's "(Did you mean --secret?)" hint still follows one.
 */
function withoutOptionValues(c: Command): void {
  // unknownOption is commander's (public in its JavaScript, missing from its typings), called for the first unknown word.
  const cmd = c as unknown as { unknownOption(flag: string): void };
  const unknownOption = cmd.unknownOption.bind(c);
  cmd.unknownOption = (flag) => unknownOption(optionName(flag));
}

/**
 * commander's usage errors quote the value too ("argument 'two\nlines' is invalid"): one line, like ours. Its
 * "(Did you mean --secret?)" came on a second line; it now ends the one line, as a config key's hint does:
 * "error: unknown command 'tokne' (did you mean token?)".
 */
function usageErrorText(text: string): string {
  const [, message, hint] = /^([\s\S]*?)(?:\n\(Did you mean ([^\n]*)\?\))?\n?$/.exec(text)!;
  return `${printable(message)}${hint === undefined ? '' : ` (did you mean ${hint}?)`}\n`;
}

/** `--name=value` → `--name`; `-xvalue` → `-x`; anything else as it is. */
function optionName(word: string): string {
  if (word.startsWith('--')) return word.split('=', 1)[0];
  if (word.startsWith('-') && word.length > 2) return word.slice(0, 2);
  return word;
}

/** Turns any error into one line on stderr and a non-zero exit code. */
function report(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander already printed its message (usage errors); help/version exit 0
    return e.exitCode === 0 ? 0 : 2;
  }
  const err = e as Error & { exitCode?: number };
  // One line, whatever the message quotes ("no client named \"a\\nb\""): cutting it at a line break lost what it was about.
  const message = printable(err?.message ?? String(e));
  process.stderr.write(`radotp: ${message}\n`);
  if (process.env.RADOTP_DEBUG && !(e instanceof ConfigError)) process.stderr.write(`${err?.stack}\n`);
  return typeof err?.exitCode === 'number' && err.exitCode > 0 ? err.exitCode : 1;
}

/**
 * `radotp token list | head -1`: the reader closes the pipe early. The rest of the output has nowhere to
 * go, which is not an error of the command (whose work is done or goes on, e.g. a server's logging).
 */
function ignoreClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    process.stdout.destroy(); // later writes are dropped instead of failing again
  });
}

/**
 * Node prints a process warning over many lines ("(node:PID) Warning: …", advice, "Use `node
 * --trace-warnings`"): the pg driver's notice that `sslmode=require` is taken as verify-full took ten.
 * Like our errors, a warning is one line, on stderr (the server's log on stdout stays JSON).
 */
function oneLineWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => process.stderr.write(`radotp: warning: ${w.message.split('\n')[0]}\n`));
}

export async function main(argv: string[]): Promise<void> {
  ignoreClosedStdout();
  oneLineWarnings();
  let code = 0;
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    code = report(e);
  }
  process.exitCode = code;
}

if (require.main === module) void main(process.argv);
