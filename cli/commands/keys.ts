import fs from 'node:fs';
import { Command } from 'commander';
import { createKeyFile, KeyRing, readKeyFile } from '../../src/secrets/keyring';
import { copyLegacySeeds } from '../../src/store/legacy-seed-copy';
import { rekeyAll, sealedCounts } from '../../src/store/rekey';
import { CliError, fileName, printJson, printTable } from '../io';
import { adminAudit, wantsJson, withStore } from '../context';

export function keysCommand(): Command {
  const cmd = new Command('keys').description('the master key that seals secrets at rest');

  cmd
    .command('new')
    .argument('<file>', 'the key file to create, in a folder that exists', fileName)
    .description('create a new random key file (mode 0600); it does nothing until you rotate to it')
    .action(async (file: string) => {
      const key = createKeyFile(file);
      process.stdout.write(`created ${file} (key id ${key.idHex})\n`);
    });

  cmd
    .command('rotate')
    .description('re-encrypt every secret not yet under the given key, in one transaction (then the legacy seed copies, in short ones)')
    .requiredOption('--new-key-file <file>', 'the new key file (create it with `radotp keys new FILE`)', fileName)
    .option('--force', "rotate although this node's config holds the new key in neither keyFile nor previousKeyFiles (only when the serving nodes' configs differ from this one's)")
    .option('--json', 'print JSON')
    // Step 2 says restart, not "restart/reload": the config is read once at start and SIGHUP is ignored, so
    // a reload left a node unable to open what step 3 seals (its logins with a token then go unanswered).
    .addHelpText(
      'after',
      `
Rolling a new key out to a cluster without downtime:
  1. radotp keys new /etc/radotp/new.key, and copy it to every node
  2. on every node add it to previousKeyFiles and restart it (nodes can then read values sealed with it)
  3. radotp keys rotate --new-key-file /etc/radotp/new.key (on one node)
  4. on every node set keyFile to the new file, move the old one to previousKeyFiles, and restart it
  5. run step 3 again: nodes still on the old keyFile may have sealed new secrets with it (an enrollment,
     a client added); this re-seals just those. radotp keys status must then show the new key only
  6. drop the old file from previousKeyFiles on every node

After its transaction commits, keys rotate copies the re-encrypted token seeds to the token rows, where
releases before migration 0018 read them (a rolling upgrade), in short transactions that logins wait for
milliseconds at most. Interrupted, the next keys rotate finishes that copy; keys status counts these
copies (LEGACY SEED COPIES), and a key that still seals one is still needed.`,
    )
    .action(async (opts, command: Command) => {
      if (!fs.existsSync(opts.newKeyFile)) throw new CliError(`--new-key-file ${opts.newKeyFile} does not exist (create it with \`radotp keys new\`)`);
      const next = readKeyFile(opts.newKeyFile, '--new-key-file');
      // Also when `next` is already this node's keyFile (step 5 run after step 4): it then finishes the roll-out.
      const result = await withStore(command, async (store, cfg) => {
        const rotated = await store.transaction(async (tx) => {
          // Step 2 first: a node that cannot open the new key answers no login with a token (every seed is under it).
          if (!tx.keys.holds(next.idHex) && !opts.force) {
            throw new CliError(
              `key ${next.idHex} (${opts.newKeyFile}) is in neither keyFile nor previousKeyFiles of this node's config: ` +
                'nodes configured like it could not open what rotate seals. Add it to previousKeyFiles on every node first (see --help)',
            );
          }
          const result = await rekeyAll(tx.db, tx.keys, new KeyRing(next));
          await adminAudit(tx, cfg)({ method: 'keys rotate', reason: 'rotated', detail: { keyId: next.idHex, ...result } });
          return { ...result, ownKeyFile: tx.keys.current.idHex === next.idHex };
        });
        // After the commit, in short transactions of its own (see copyLegacySeeds): the copies of the seeds in the token
        // rows, which nodes of a release before migration 0018 read, follow the seeds just re-sealed (and those an
        // interrupted run left behind), so that none stays under the key being retired.
        return { ...rotated, legacyCopies: await copyLegacySeeds(store.db) };
      });
      const { ownKeyFile, ...counts } = result;
      if (wantsJson(command)) return printJson({ ...counts, keyId: next.idHex });
      // What is left of the roll-out (--help's steps): after step 3, step 4; run where the key is keyFile already
      // (step 5), the last step, not step 4 again.
      const nextStep = ownKeyFile
        ? `this node's keyFile is that key: once every node's is, run this once more (it re-seals what nodes still on the old key wrote); ` +
          `when \`radotp keys status\` shows key ${next.idHex} alone, drop the old key from previousKeyFiles`
        : `every node needs keyFile: ${opts.newKeyFile}; keep the old key in previousKeyFiles until all have switched and a last rotate re-sealed what they wrote meanwhile`;
      const copied = counts.legacyCopies > 0 ? `copied ${counts.legacyCopies} re-encrypted token seed(s) to the token rows that releases before migration 0018 read\n` : '';
      process.stdout.write(
        `re-encrypted ${counts.clients} client secret(s) and ${counts.tokens} token seed(s) under key ${next.idHex}` +
          ` (${counts.alreadyUnderKey} already under it)\n${copied}${nextStep}\n`,
      );
    });

  cmd
    .command('status')
    .description('how many secrets each key has sealed, and whether this node holds that key')
    .option('--json', 'print JSON')
    .action(async (_opts, command: Command) => {
      const rows = await withStore(command, async (store) =>
        (await sealedCounts(store.db)).map((c) => ({
          ...c,
          held: c.keyId === store.keys.current.idHex ? 'keyFile' : store.keys.holds(c.keyId) ? 'previousKeyFiles' : 'no',
        })),
      );
      if (wantsJson(command)) return printJson(rows);
      // LEGACY SEED COPIES: the seeds as releases before migration 0018 read them, in the token rows; a key that still
      // seals one is still needed by such a node, and must not be dropped either
      printTable(
        ['KEY', 'CLIENT SECRETS', 'TOKEN SEEDS', 'LEGACY SEED COPIES', 'HELD BY THIS NODE'],
        rows.map((r) => [r.keyId, r.clients, r.tokens, r.legacyTokenCopies, r.held]),
      );
    });

  return cmd;
}
