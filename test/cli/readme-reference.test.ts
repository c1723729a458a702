import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../cli/main';

/*
 * README's "CLI reference" table and every command's --help must be true. The table is read mechanically:
 * each `radotp ...` (or `client list ...`, continuing the row's command group) names a real command, and
 * every --option in it is one of that command's options. Both ways: every command is in the table.
 */

const README = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

function commandAt(words: string[]): Command | undefined {
  let cmd: Command | undefined = buildProgram();
  for (const w of words) cmd = cmd?.commands.find((c) => c.name() === w);
  return cmd;
}

/** Every command that does something (has an action), as its words: "serve", "client add", "audit", "audit prune". */
function runnable(cmd: Command, at: string[] = []): string[] {
  // commander keeps the action in a private field; a group such as `client` has none
  const own = at.length && (cmd as unknown as { _actionHandler?: unknown })._actionHandler ? [at.join(' ')] : [];
  return [...own, ...cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => runnable(c, [...at, c.name()]))];
}

/**
 * [command words, options named] for every code span in the first column of README's CLI reference table.
 * A span is `radotp GROUP CMD ARGS [--options]`, or, after one, `CMD ...` continuing the same group
 * (`client list [--json]` after `radotp client set ...`).
 */
function documented(): [string[], string[]][] {
  const section = README.split('## CLI reference')[1]!.split('\n## ')[0]!;
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  return rows.flatMap((row) => {
    const firstCell = row.split(/(?<!\\)\|/)[1]!;
    let group: string[] = [];
    return [...firstCell.matchAll(/`([^`]+)`/g)].map((m) => {
      const span = m[1]!;
      const words = span.replace(/^radotp /, '').split(' ');
      // the command is its leading lower-case words; arguments (USERNAME, SERIAL) and [--options] follow
      const end = words.findIndex((w) => !/^[a-z]+$/.test(w));
      let cmdWords = end < 0 ? words : words.slice(0, end);
      if (span.startsWith('radotp ')) group = cmdWords.slice(0, 1);
      else if (commandAt(cmdWords) === undefined) cmdWords = [...group, ...cmdWords];
      return [cmdWords, [...span.matchAll(/--[a-z][a-z-]*/g)].map((o) => o[0])] as [string[], string[]];
    });
  });
}

describe("README's CLI reference", () => {
  const rows = documented();

  test('is found', () => {
    expect(rows.length).toBeGreaterThan(30);
  });

  test.each(rows.map(([words, options]) => [words.join(' '), options] as const))('radotp %s: the command and its options %j exist', (words, options) => {
    const cmd = commandAt(words.split(' '));
    expect(cmd).toBeDefined();
    const known = new Set(cmd!.options.map((o) => o.long));
    for (const option of options) expect([words, option, known.has(option)]).toEqual([words, option, true]);
  });

  test('names every command', () => {
    const named = new Set(rows.map(([words]) => words.join(' ')));
    expect(runnable(buildProgram()).filter((c) => !named.has(c))).toEqual([]);
  });
});

describe('--help', () => {
  /** Every command's full --help, including text added after the options. */
  function helps(cmd: Command, at: string[] = []): [string, string][] {
    let text = '';
    cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
    cmd.outputHelp();
    const name = [...at, cmd.name()].join(' ');
    return [[name, text], ...cmd.commands.flatMap((c) => helps(c, [...at, cmd.name()]))];
  }
  const all = helps(buildProgram());

  // serve reads its config once and ignores SIGHUP: "restart/reload" sent admins to a `systemctl reload`
  // that changes nothing (keys rotate's step 2: a node not restarted cannot open the new key's secrets).
  test.each(all)('%s does not speak of a reload', (_name, text) => {
    expect(text.replace(/has no reload/g, '')).not.toMatch(/reload(?! the RADIUS clients)/i);
  });

  test('a yes|no option shows its default as yes or no', () => {
    const texts = all.filter(([, t]) => /<yes\|no[|>]/.test(t));
    expect(texts.length).toBeGreaterThan(0);
    for (const [, t] of texts) expect(t).not.toMatch(/\(default: (true|false)\)/);
    expect(all.find(([n]) => n === 'radotp client add')![1]).toMatch(/--require-message-authenticator <yes\|no\|auto>[^\n]*\(default:\s+yes\)/);
  });
});
