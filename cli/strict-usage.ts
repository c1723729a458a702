import type { EventEmitter } from 'node:events';
import { type Command, CommanderError } from 'commander';

/*
 * Usage mistakes commander answers with a screenful of help, or not at all. "The CLI exits non-zero with one clear
 * line": each of these is now a usage error (exit 2) of one line, through commander's own error() so that it is
 * printed like the rest (cli/main.ts usageErrorText).
 */

/** commander methods that are public in its JavaScript but missing from its typings. */
interface CommanderInternals {
  args: string[];
  help(context?: { error?: boolean }): never;
  unknownCommand(): never;
  unknownOption(flag: string): never;
  parseOptions(argv: string[]): unknown;
}

/**
 * commander calls help({ error: true }) when a command that only groups others is given none (`radotp token`), and
 * when `help NAME` names no command (`radotp help bogus`): the whole help, 15-27 lines, on stderr. A script's log
 * then holds a page in which the one thing that went wrong is not said. Help asked for (--help, `help token`)
 * is unchanged: it goes to stdout, whole, with exit 0.
 */
export function oneLineForMissingCommand(c: Command): void {
  if (c.commands.length === 0) return;
  const cmd = c as unknown as CommanderInternals;
  const help = cmd.help.bind(c);
  cmd.help = (context) => {
    if (!context?.error) return help(context);
    // `help bogus` (and `token help bogus`) reach here with the words still in args: answer as for `radotp bogus`
    const named = cmd.args[0] === 'help' ? cmd.args[1] : undefined;
    // `help help`: commander's help command is no entry of the list it looks in; its help is the group's own
    if (named === 'help') return help();
    if (named !== undefined) {
      cmd.args = [named];
      return cmd.unknownCommand();
    }
    const path = commandPath(c);
    const choices = c.commands.map((sub) => sub.name()).filter((name) => name !== 'help');
    c.error(`error: ${path}: which command? ${choices.join(', ')} (${path} --help)`, { exitCode: 2, code: 'radotp.missingCommand' });
    throw new Error('unreachable: commander.error exits'); // for the type checker; error() has thrown or exited
  };
}

/**
 * `audit` both lists and holds a command (prune). A word after it that is no command was "too many arguments for
 * 'audit'", and a mistyped prune with prune's option after it (`audit prun --older-than 90d`) was "unknown option
 * '--older-than'": neither named the word that was wrong. For a command that takes no arguments of its own but has
 * commands, a stray word is an unknown command, with commander's suggestion ("(did you mean prune?)").
 */
export function strayWordIsUnknownCommand(c: Command): void {
  if (c.commands.length === 0 || c.registeredArguments.length > 0) return;
  const cmd = c as unknown as CommanderInternals;
  const unknownCommand = (word: string): never => {
    cmd.args = [word];
    return cmd.unknownCommand();
  };
  // commander checks unknown options before the number of arguments; args holds the words (operands) first
  const unknownOption = cmd.unknownOption.bind(c);
  cmd.unknownOption = (flag) => {
    const first = cmd.args[0];
    return first !== undefined && !first.startsWith('-') ? unknownCommand(first) : unknownOption(flag);
  };
  // past the options, a word left over is taken to the action (not refused as excess) and refused here, by name
  c.allowExcessArguments(true);
  c.hook('preAction', (thisCommand, actionCommand) => {
    if (actionCommand === c && c.args.length > 0) unknownCommand(c.args[0]!);
  });
}

/**
 * commander keeps the last value of an option given twice: `user set alice --method password --method token` made
 * alice a token user, `--secret a --secret b` stored b, `-c prod.yaml … -c test.yaml` read test.yaml, each with
 * exit 0. Which one the admin meant is not ours to guess. A flag (--json) repeated says the same thing twice, and
 * radotp has no option that collects values, so every option that takes a value is refused the second time,
 * named without its values (one may be a secret).
 */
export function refuseRepeatedOptions(c: Command): void {
  const cmd = c as unknown as CommanderInternals;
  const parseOptions = cmd.parseOptions.bind(c);
  // parseOptions runs once per parse of this command: what was seen is counted from there.
  let seen = new Set<string>();
  cmd.parseOptions = (argv) => {
    seen = new Set();
    return parseOptions(argv);
  };
  for (const option of c.options) {
    if (!option.required && !option.optional) continue; // a flag: nothing to choose between
    if (option.variadic) continue; // collects its values by design (radotp has none)
    c.on(`option:${option.name()}`, () => {
      const name = option.long ?? option.short!;
      if (seen.has(name)) c.error(`error: option '${name}' is given more than once; it takes one value`, { exitCode: 2, code: 'radotp.repeatedOption' });
      seen.add(name);
    });
  }
}

/**
 * commander prints the version as soon as it meets -V/--version, anywhere, and exits 0: `radotp -V x` and
 * `radotp user add carol --version` "succeeded" without doing what the rest of the line says. The version is
 * printed for --version alone; with anything else it is a usage error.
 */
export function versionAlone(program: Command, version: string): void {
  const cmd = program as unknown as CommanderInternals;
  let words: string[] = [];
  const parseOptions = cmd.parseOptions.bind(program);
  cmd.parseOptions = (argv) => {
    words = [...argv];
    return parseOptions(argv);
  };
  program.version(version, '-V, --version', 'output the version number (given alone: with anything else, a usage error)');
  const option = program.options.find((o) => o.attributeName() === 'version')!;
  // replaces commander's listener, which prints and exits whatever else the line holds
  (program as unknown as EventEmitter).removeAllListeners(`option:${option.name()}`); // a Command is one, untyped
  program.on(`option:${option.name()}`, () => {
    if (words.length !== 1) program.error('error: --version takes nothing else: run `radotp --version` alone', { exitCode: 2, code: 'radotp.versionNotAlone' });
    process.stdout.write(`${version}\n`);
    throw new CommanderError(0, 'commander.version', version); // what commander's exitOverride throws for it
  });
}

function commandPath(c: Command): string {
  const names: string[] = [];
  for (let at: Command | null = c; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}
