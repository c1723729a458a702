import fs from 'node:fs';
import type { Command } from 'commander';
import type { PskcDecryption } from '../../src/pskc';
import { assertFileOrPipe, readRegularFile } from '../../src/lang/regular-file';
import { importPskcFile, TokenImportError } from '../../src/tokens/pskc-import';
import { CliError, fileName, printJson, readSecretFromStdin, UsageError } from '../io';
import { ProgressBar } from '../progress';
import { importAudited, wantsJson, withStore } from '../context';

function hexKey(text: string, from: string): Buffer {
  const hex = text.trim().replace(/^0x/i, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new CliError(`${from}: expected the transport key in hex`);
  return Buffer.from(hex, 'hex');
}

function readFileOrFail(file: string, what: string): Buffer {
  try {
    return readRegularFile(file); // not /dev/zero or a FIFO: reading either never ends
  } catch (e) {
    throw cannotRead(what, file, e);
  }
}

function cannotRead(what: string, file: string, e: unknown): CliError {
  return new CliError(`cannot read ${what} ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
}

/** open's codes for a name that leads to no file: what an admin typed there is likely not a file name at all. */
const NO_SUCH_FILE = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG']);

/**
 * The transport key file's text. An admin who typed the key itself (`--psk-file 0011…eeff`) was told
 * "cannot read transport key file 0011…eeff (ENOENT)": the key, in a terminal's scrollback or a job's log. A
 * value that names no file is not repeated (as an unknown option's value is not: withoutOptionValues in
 * cli/main.ts); one that names a file that cannot be read (a folder, no permission) is, as it is no key.
 */
function readPskFile(file: string): string {
  try {
    return readRegularFile(file).toString('utf8');
  } catch (e) {
    if (NO_SUCH_FILE.has((e as NodeJS.ErrnoException).code ?? '')) {
      throw new CliError('--psk-file: no such file; it takes the name of a file holding the transport key in hex, not the key (the value is not shown: it may be the key)');
    }
    throw cannotRead('transport key file', file, e);
  }
}

/** The decryption material named by the flags; at most one kind, and stdin read at most once. */
export function decryptionFromOptions(opts: {
  psk?: string;
  pskFile?: string;
  passwordStdin?: boolean;
  privateKey?: string;
  privateKeyPasswordStdin?: boolean;
}): PskcDecryption {
  const given = [opts.psk, opts.pskFile, opts.passwordStdin, opts.privateKey].filter((v) => v !== undefined && v !== false);
  if (given.length > 1) throw new UsageError('give only one of --psk, --psk-file, --password-stdin, --private-key');
  if (opts.privateKeyPasswordStdin && !opts.privateKey) throw new UsageError('--private-key-password-stdin needs --private-key');
  if (opts.psk !== undefined) return { psk: hexKey(opts.psk, '--psk') };
  if (opts.pskFile !== undefined) return { psk: hexKey(readPskFile(opts.pskFile), opts.pskFile) };
  if (opts.passwordStdin) return { password: readSecretFromStdin('the PSKC password') };
  if (opts.privateKey !== undefined) {
    const bytes = readFileOrFail(opts.privateKey, 'private key');
    const password = opts.privateKeyPasswordStdin ? readSecretFromStdin('the private key password') : undefined;
    const text = bytes.toString('utf8');
    if (text.includes('-----BEGIN')) {
      if (password !== undefined) throw new CliError('encrypted PEM keys are not supported; decrypt it with openssl first, or use a .p12 file');
      return { privateKeyPem: text };
    }
    return { pkcs12: bytes, pkcs12Password: password ?? '' };
  }
  return {};
}

/** Counts KeyPackage elements for the progress bar (a quick scan; the real parse checks everything). */
function countKeyPackages(file: string): number {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  let count = 0;
  let carry = '';
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = carry + buf.toString('latin1', 0, n);
      count += (text.match(/<(?:[\w.-]+:)?KeyPackage[\s>]/g) ?? []).length;
      carry = text.slice(-64).replace(/^[^<]*/, '');
      if (carry.match(/<(?:[\w.-]+:)?KeyPackage[\s>]/)) count--; // counted again with the next chunk
    }
  } finally {
    fs.closeSync(fd);
  }
  return count;
}

/**
 * What the progress bar counts up to: 0 (no bar) when none is drawn, and for anything but a regular file.
 * Counting reads the file once before the import reads it; from a pipe (`token import <(gpg -d f.pskc.gpg)`,
 * /dev/stdin) that first read took everything and left the import an empty document ("no root element").
 */
export function progressTotal(file: string, bar: boolean): number {
  if (!bar) return 0;
  try {
    if (!fs.statSync(file).isFile()) return 0;
  } catch {
    return 0; // the import itself says why the file cannot be read
  }
  return countKeyPackages(file);
}

/** A line naming serials (the first 10, and how many more), or nothing when there are none. */
function serialsLine(what: string, serials: readonly string[]): string {
  if (serials.length === 0) return '';
  const more = serials.length > 10 ? ` and ${serials.length - 10} more (see --json)` : '';
  return `${what}: ${serials.slice(0, 10).join(', ')}${more}\n`;
}

export function addImportCommand(token: Command): void {
  token
    .command('import')
    .argument('<file>', 'the PSKC file (a pipe too)', fileName)
    .description('import hardware tokens from a PSKC (RFC 6030) file into the pool, all or nothing')
    .option('--psk <hex>', 'pre-shared transport key, in hex (prefer --psk-file: command lines are visible to other users)')
    .option('--psk-file <file>', 'file holding the transport key in hex', fileName)
    .option('--password-stdin', 'read the PBKDF2 password from standard input')
    .option('--private-key <file>', 'RSA private key (PEM) or PKCS#12 (.p12) for asymmetric key transport', fileName)
    .option('--private-key-password-stdin', "read the PKCS#12 file's password from standard input")
    .option('--skip-existing', 'leave tokens whose serial already exists alone (otherwise they fail the import); one there with another seed still fails it')
    .option('--dry-run', 'decrypt and check everything, write nothing')
    .option('--json', 'print the summary as JSON (no progress bar)')
    .action(async (file: string, opts, command: Command) => {
      // a folder failed in the middle of reading, as "EISDIR: illegal operation on a directory, read", naming no file
      try {
        assertFileOrPipe(fs.statSync(file));
      } catch (e) {
        throw new CliError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      const decryption = decryptionFromOptions(opts);
      const json = wantsJson(command);
      const bar = new ProgressBar('importing', progressTotal(file, !json && !!process.stderr.isTTY), { enabled: !json });
      const summary = await withStore(command, async (store, cfg) => {
        try {
          return await importAudited(
            store,
            cfg,
            !!opts.dryRun,
            (into) => importPskcFile(into.db, into.tokens, file, decryption, { dryRun: !!opts.dryRun, skipExisting: !!opts.skipExisting, onKey: () => bar.tick() }),
            ({ imported, skippedExisting, skippedPinKeys, byKind, replayStateKept, replayStateNewSeed }) => ({
              method: 'token import',
              reason: 'imported',
              detail: { file, imported, skippedExisting, skippedPinKeys, byKind, replayStateKept, replayStateNewSeed },
            }),
          );
        } catch (e) {
          if (e instanceof TokenImportError) throw new CliError(`${file}: ${e.message}; nothing imported`);
          throw e;
        } finally {
          bar.finish();
        }
      });
      if (json) return printJson(summary);
      const kinds = Object.entries(summary.byKind)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ');
      process.stdout.write(
        `${opts.dryRun ? 'would import' : 'imported'} ${summary.imported} token(s)${kinds ? ` (${kinds})` : ''} into the pool` +
          (summary.skippedExisting ? `, skipped ${summary.skippedExisting} existing` : '') +
          (summary.skippedPinKeys ? `, skipped ${summary.skippedPinKeys} PIN key(s)` : '') +
          (opts.dryRun ? ' (dry run: nothing written)' : '') +
          '\n' +
          serialsLine('deleted earlier, its used codes stay used (the same seed, or one radotp cannot compare)', summary.replayStateKept) +
          serialsLine('deleted earlier, now with a new seed: starts at the counter of the file', summary.replayStateNewSeed),
      );
    });
}
