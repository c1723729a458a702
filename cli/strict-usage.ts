import type { Command } from 'commander';

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

function commandPath(c: Command): string {
  const names: string[] = [];
  for (let at: Command | null = c; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}
