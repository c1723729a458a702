import fs from 'node:fs';
import { Command } from 'commander';
import { createKeyFile, KeyRing, readKeyFile } from '../../src/secrets/keyring';
import { rekeyAll } from '../../src/store/rekey';
import { CliError, printJson } from '../io';
import { wantsJson, withStore } from '../context';

export function keysCommand(): Command {
  const cmd = new Command('keys').description('the master key that seals secrets at rest');

  cmd
    .command('new <file>')
    .description('create a new random key file (mode 0600); it does nothing until you rotate to it')
    .action(async (file: string) => {
      const key = createKeyFile(file);
      process.stdout.write(`created ${file} (key id ${key.idHex})\n`);
    });

  cmd
    .command('rotate')
    .description('re-encrypt every secret under a new key, in one transaction')
    .requiredOption('--new-key-file <file>', 'the new key file (create it with `radotp keys new FILE`)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Rolling a new key out to a cluster without downtime:
  1. radotp keys new /etc/radotp/new.key, and copy it to every node
  2. on every node add it to previousKeyFiles (nodes can then read values sealed with it) and restart/reload
  3. radotp keys rotate --new-key-file /etc/radotp/new.key (on one node)
  4. on every node set keyFile to the new file and move the old one to previousKeyFiles
  5. once every node runs with the new keyFile, drop the old file from previousKeyFiles`,
    )
    .action(async (opts, command: Command) => {
      if (!fs.existsSync(opts.newKeyFile)) throw new CliError(`--new-key-file ${opts.newKeyFile} does not exist (create it with \`radotp keys new\`)`);
      const next = readKeyFile(opts.newKeyFile);
      const result = await withStore(command, async (store) => {
        if (next.idHex === store.keys.current.idHex) throw new CliError('the new key is the key already in use');
        const target = new KeyRing(next);
        return rekeyAll(store.db, store.keys, target);
      });
      if (wantsJson(command)) return printJson({ ...result, keyId: next.idHex });
      process.stdout.write(
        `re-encrypted ${result.clients} client secret(s) and ${result.tokens} token seed(s) under key ${next.idHex}\n` +
          `now set keyFile: ${opts.newKeyFile} on every node, keeping the old key in previousKeyFiles until all have switched\n`,
      );
    });

  return cmd;
}
