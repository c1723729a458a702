import { Command, Option } from 'commander';
import { hasControlCharacter } from '../../src/lang/control-characters';
import { hashPassword } from '../../src/auth/password-hash';
import { AUTH_METHODS } from '../../src/config/schema';
import { readFileOrPipe } from '../../src/lang/regular-file';
import { importUsersInTransaction } from '../../src/store/user-import';
import { hashImportPasswords, ImportError, planUserImport, readUserCsv, SURROUNDING_SPACE } from '../../src/users/import';
import { CsvError } from '../../src/users/csv';
import { CliError, fileName, printFields, printJson, printTable, readSecretFromStdin, UsageError } from '../io';
import { ProgressBar } from '../progress';
import { configOf, importAudited, wantsJson, withAdminChange, withStore } from '../context';

const methodOption = () => new Option('--method <method>', 'how the user authenticates').choices([...AUTH_METHODS]);

function checkUsername(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > 253) throw new UsageError('usernames are 1-253 bytes (RFC 2865 §5.1)');
  if (hasControlCharacter(name)) throw new UsageError('usernames must not contain control characters');
  if (name.trim() !== name) throw new UsageError(SURROUNDING_SPACE);
}

export function userCommand(): Command {
  const cmd = new Command('user').description('users and how they authenticate');

  cmd
    .command('add <username>')
    .description('create a user (with --password-stdin: a local password, hashed with argon2id)')
    .option('--password-stdin', 'read the password from standard input')
    .addOption(methodOption())
    .action(async (username: string, opts, command: Command) => {
      checkUsername(username);
      const passwordHash = opts.passwordStdin ? await hashPassword(readSecretFromStdin('the password')) : null;
      const method = opts.method ?? configOf(command).auth.defaultMethod;
      await withAdminChange(command, async (tx, audit) => {
        await tx.users.add({ username, passwordHash, method });
        await audit({ username, method: 'user add', reason: 'added', detail: { authMethod: method, localPassword: passwordHash !== null } });
      });
      process.stdout.write(`user ${username} added (method ${method}${passwordHash ? '' : ', no local password'})\n`);
    });

  cmd
    .command('set <username>')
    .description('change how a user authenticates')
    .addOption(methodOption())
    .action(async (username: string, opts, command: Command) => {
      if (!opts.method) throw new UsageError('nothing to change: give --method');
      const refusedFromNow = await withAdminChange(command, async (tx, audit, cfg) => {
        await tx.users.update(username, { method: opts.method });
        await audit({ username, method: 'user set', reason: 'changed', detail: { authMethod: opts.method } });
        // From now until a token is active, every login of theirs is refused (no_token): README's step 4 switches
        // the method before the enrollment, and nothing said so.
        if (opts.method !== 'token' || cfg.auth.allowUsersWithoutToken) return false;
        return (await tx.tokens.list({ username, state: 'active' })).length === 0;
      });
      process.stdout.write(`user ${username} now uses method ${opts.method}\n`);
      if (refusedFromNow) {
        process.stderr.write(
          `radotp: warning: ${username} has no active token: their logins are refused (no_token) until one is ` +
            `(\`radotp token enroll ${username}\` then \`token activate\`, or \`radotp token assign SERIAL ${username}\`)\n`,
        );
      }
    });

  cmd
    .command('passwd <username>')
    .description("set a user's local password")
    .requiredOption('--password-stdin', 'read the new password from standard input')
    .action(async (username: string, _opts, command: Command) => {
      const passwordHash = await hashPassword(readSecretFromStdin('the password'));
      await withAdminChange(command, async (tx, audit) => {
        await tx.users.update(username, { passwordHash });
        await audit({ username, method: 'user passwd', reason: 'password_set' });
      });
      process.stdout.write(`password of ${username} changed\n`);
    });

  cmd
    .command('unlock <username>')
    .description("clear a user's count of wrong passwords and the lock it set (see auth.lockout)")
    .action(async (username: string, _opts, command: Command) => {
      const cleared = await withAdminChange(command, async (tx, audit) => {
        const had = await tx.passwords.unlock(username);
        if (had) await audit({ username, method: 'user unlock', reason: 'unlocked' });
        return had;
      });
      process.stdout.write(cleared ? `user ${username} unlocked\n` : `user ${username} had no wrong passwords counted: nothing to unlock\n`);
    });

  cmd
    .command('list')
    .description('list users')
    .option('--locked', 'only users locked now by wrong passwords (unlock with `user unlock`)')
    .option('--json', 'print JSON')
    .action(async (opts, command: Command) => {
      const { users, locks } = await withStore(command, async (store) => ({ users: await store.users.list(), locks: await store.passwords.locks() }));
      const rows = users
        .map((u) => ({ username: u.username, method: u.method, hasPassword: !!u.passwordHash, lockedUntil: locks.get(u.id)?.lockedUntil ?? null, createdAt: u.createdAt }))
        .filter((u) => !opts.locked || u.lockedUntil !== null);
      if (wantsJson(command)) return printJson(rows);
      printTable(
        ['USERNAME', 'METHOD', 'PASSWORD', 'LOCKED UNTIL', 'CREATED'],
        rows.map((u) => [u.username, u.method, u.hasPassword ? 'set' : 'none', u.lockedUntil?.toISOString(), u.createdAt.toISOString()]),
      );
    });

  cmd
    .command('show <username>')
    .description('show one user and their tokens')
    .option('--json', 'print JSON')
    .action(async (username: string, _opts, command: Command) => {
      const { user, tokens, lock } = await withStore(command, async (store) => {
        const user = await store.users.get(username);
        return { user, tokens: await store.tokens.list({ username }), lock: (await store.passwords.locks([user.id])).get(user.id) };
      });
      const view = {
        username: user.username,
        method: user.method,
        hasPassword: !!user.passwordHash,
        wrongPasswords: lock?.failures ?? 0,
        lockedUntil: lock?.lockedUntil ?? null,
        createdAt: user.createdAt,
        updatedAt: user.updatedAt,
        tokens: tokens.map((t) => ({ serial: t.serial, kind: t.kind, state: t.state })),
      };
      if (wantsJson(command)) return printJson(view);
      printFields([
        ['username', view.username],
        ['method', view.method],
        ['password', view.hasPassword ? 'set' : 'none'],
        ['wrong passwords', view.wrongPasswords],
        ['locked until', view.lockedUntil ?? 'not locked'],
        ['created', view.createdAt],
        ['updated', view.updatedAt],
        ['tokens', view.tokens.map((t) => `${t.serial} (${t.kind}, ${t.state})`).join(', ') || 'none'],
      ]);
    });

  cmd
    .command('remove <username>')
    .description('delete a user (software tokens are deleted, hardware tokens return to the pool)')
    .action(async (username: string, _opts, command: Command) => {
      const tokens = await withAdminChange(command, async (tx, audit) => {
        const tokens = await tx.users.remove(username);
        await audit({ username, method: 'user remove', reason: 'removed' });
        // and each token the removal changed, under its serial, as `token delete` and `token unassign` audit theirs
        for (const tokenSerial of tokens.deleted) await audit({ username, tokenSerial, method: 'user remove', reason: 'deleted' });
        for (const tokenSerial of tokens.unassigned) await audit({ username, tokenSerial, method: 'user remove', reason: 'unassigned' });
        return tokens;
      });
      // Which fobs to collect back, and which stays disabled: said only in the audit trail, the admin saw one line.
      // The words of `token delete` and `token unassign`.
      const lines = [`user ${username} removed`, ...[...tokens.deleted].sort().map((serial) => `token ${serial} deleted (a software token)`)];
      for (const serial of [...tokens.unassigned].sort()) {
        const still = tokens.stillDisabled.has(serial) ? `, still disabled (${tokens.stillDisabled.get(serial)}): enable it before handing it out again` : '';
        lines.push(`token ${serial} returned to the pool${still}`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });

  cmd
    .command('import')
    .argument('<file>', 'the CSV file (a pipe too: <(gpg -d users.csv.gpg))', fileName)
    .description('create or update users from a CSV file (username,password,method,token_serial), all or nothing')
    .option('--dry-run', 'check everything and report what would change, write nothing')
    .option('--json', 'print the summary as JSON (no progress bar)')
    .addHelpText(
      'after',
      `
The first line must be the header: username,password,method,token_serial
password, method and token_serial may be empty (existing values are kept; new users get auth.defaultMethod).
A password may be given in clear (hashed with argon2id here) or as an argon2 PHC string ($argon2id$...);
another system's hash (bcrypt $2b$..., $6$..., yescrypt, scrypt, pbkdf2) is refused: radotp cannot check it.
token_serial assigns a token from the pool (see radotp token import). One bad line imports nothing.`,
    )
    .action(async (file: string, opts, command: Command) => {
      let text: string;
      try {
        text = readFileOrPipe(file).toString('utf8');
      } catch (e) {
        throw new CliError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      const json = wantsJson(command);
      const summary = await withStore(command, async (store, cfg) => {
        let rows;
        try {
          rows = readUserCsv(text, AUTH_METHODS);
        } catch (e) {
          if (e instanceof CsvError || e instanceof ImportError) throw new CliError(`${file}: ${e.message}`);
          throw e;
        }
        const hashing = new ProgressBar('hashing passwords', rows.filter((r) => r.password).length, { enabled: !json });
        const hashes = await hashImportPasswords(rows, () => hashing.tick());
        hashing.finish();
        const writing = new ProgressBar('writing users', rows.length, { enabled: !json });
        try {
          return await importAudited(
            store,
            cfg,
            !!opts.dryRun,
            (into) =>
              importUsersInTransaction(
                into.db,
                rows.map((r) => r.username),
                rows.filter((r) => r.tokenSerial).map((r) => r.tokenSerial!),
                async (users, tokens) => planUserImport(rows, { users, tokens }, hashes, cfg.auth.defaultMethod),
                { dryRun: !!opts.dryRun, onWritten: (n) => writing.tick(n) },
              ),
            ({ created, updated, passwordsSet, tokensAssigned, changes }) => [
              { method: 'user import', reason: 'imported', detail: { file, created, updated, passwordsSet, tokensAssigned } },
              // and one row per user, so `radotp audit --user U` shows what the import did to U
              ...changes.map((c) => ({
                username: c.username,
                method: 'user import',
                reason: c.created ? 'added' : 'changed',
                tokenSerial: c.tokenSerial,
                detail: { file, authMethod: c.authMethod, passwordSet: c.passwordSet, tokenAssigned: c.tokenSerial !== undefined },
              })),
            ],
          );
        } catch (e) {
          if (e instanceof ImportError) throw new CliError(`${file}: ${e.message}; nothing imported`);
          throw e;
        } finally {
          writing.finish();
        }
      });
      const { changes: _perUser, ...counts } = summary;
      if (json) return printJson({ ...counts, dryRun: !!opts.dryRun });
      const [create, update, set, assign] = opts.dryRun ? ['would create', 'update', 'set', 'assign'] : ['created', 'updated', 'set', 'assigned'];
      process.stdout.write(
        `${create} ${summary.created} user(s), ${update} ${summary.updated}, ${set} ${summary.passwordsSet} password(s), ${assign} ${summary.tokensAssigned} token(s)` +
          (opts.dryRun ? ' (dry run: nothing written)\n' : '\n'),
      );
    });

  return cmd;
}
