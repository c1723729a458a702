import type { Command, Option } from 'commander';
import { buildProgram } from '../../cli/main';
import { linesOf, runCli } from '../support/cli';

/*
 * A secret typed where the CLI does not take one must not come back on stderr (a terminal's scrollback, a
 * job's log). commander quoted an unknown option whole: `user add bob --password=hunter2` answered
 * "unknown option '--password=hunter2'". And an option that does take a secret on the command line (where
 * `ps` shows it to every user) says in --help which alternative keeps it off.
 */

const SECRET = 'S3cret-never-echoed-7f3a';

describe('a secret given as the value of an unknown option is not printed back', () => {
  // [what the admin tried, argv, the option name the error should still give]
  const rows: [string, string[], string][] = [
    ['a password to user add (passwords come on stdin)', ['user', 'add', 'bob', `--password=${SECRET}`], '--password'],
    ['a password to user passwd', ['user', 'passwd', 'bob', '--password-stdin', `--password=${SECRET}`], '--password'],
    ['a mistyped --secret', ['client', 'add', 'nas', '--address', '192.0.2.1', `--secrett=${SECRET}`], '--secrett'],
    ['a mistyped --psk', ['token', 'import', 'tokens.pskc', `--pks=${SECRET}`], '--pks'],
    ['a short option with the secret attached', ['user', 'add', 'bob', `-p${SECRET}`], '-p'],
    ['an unknown option before the command', [`--password=${SECRET}`, 'user', 'list'], '--password'],
  ];
  test.concurrent.each(rows)('%s', async (_name, args, option) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    expect(linesOf(r.stderr)[0]).toMatch(new RegExp(`^error: unknown option '${option}'( \\(did you mean [^)]*\\?\\))?$`));
  });

  // on the same line since the CLI's errors are one line (test/cli/one-line-usage.test.ts)
  test("commander's suggestion still follows a near miss", async () => {
    const r = await runCli(['client', 'add', 'nas', '--address', '192.0.2.1', `--secrett=${SECRET}`]);
    expect(r.stderr).toBe("error: unknown option '--secrett' (did you mean --secret?)\n");
  });
});

describe('options that take a secret on the command line point to the alternative', () => {
  // long option → the alternative its help must name
  const SECRET_VALUED: Record<string, string> = { '--secret': '--secret-stdin', '--psk': '--psk-file' };

  function optionsOf(cmd: Command, at: string[] = []): [string, Option][] {
    const own = cmd.options.map((o) => [[...at, cmd.name()].join(' '), o] as [string, Option]);
    return [...own, ...cmd.commands.flatMap((c) => optionsOf(c, [...at, cmd.name()]))];
  }
  const secretOptions = optionsOf(buildProgram()).filter(([, o]) => o.long !== undefined && o.long in SECRET_VALUED);

  test('the walk finds them', () => {
    expect(secretOptions.map(([where, o]) => `${where} ${o.long}`).sort()).toEqual([
      'radotp client add --secret',
      'radotp client set --secret',
      'radotp token import --psk',
    ]);
  });

  test.each(secretOptions.map(([where, o]) => [`${where} ${o.long}`, o] as const))('%s', (_name, option) => {
    expect(option.description).toContain(`prefer ${SECRET_VALUED[option.long!]}: command lines are visible to other users`);
  });
});

/*
 * `token import FILE --psk-file <the key itself>`: the admin typed the transport key where --psk-file wants the
 * name of a file holding it, and the error quoted it back ("cannot read transport key file 0011…eeff (ENOENT)").
 * A value that names no file is not shown; one that names a file (unreadable, a folder) still is.
 */
describe('a transport key typed where --psk-file wants a file name is not printed back', () => {
  const KEY = '00112233445566778899aabbccddeeff';
  // [what, the value of --psk-file]
  const rows: [string, string][] = [
    ['the key in hex', KEY],
    ['the key with 0x', `0x${KEY}`],
    ['a key too long for a file name (ENAMETOOLONG)', KEY.repeat(10)],
  ];
  test.concurrent.each(rows)('%s', async (_name, value) => {
    const r = await runCli(['token', 'import', 'package.json', '--psk-file', value]);
    expect(r.stdout + r.stderr).not.toContain(KEY);
    expect(r.stderr).toBe('radotp: --psk-file: no such file; it takes the name of a file holding the transport key in hex, not the key (the value is not shown: it may be the key)\n');
    expect(r.code).toBe(1);
  });

  test('a file that exists but cannot be read is still named', async () => {
    const r = await runCli(['token', 'import', 'package.json', '--psk-file', 'src']);
    expect(r.stderr).toBe('radotp: cannot read transport key file src (a folder, not a regular file)\n');
  });
});
