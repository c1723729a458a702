import { InvalidArgumentError } from 'commander';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import tty from 'node:tty';
import { printable } from '../src/lang/control-characters';
import { FileTooLargeError, readAtMost } from '../src/lang/regular-file';

/** An error the CLI reports as one line on stderr, exiting non-zero. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** The command was called wrongly (options that exclude each other, a malformed argument): exit 2, as commander's own usage errors. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, 2);
  }
}

/** The whole number written in `text` as plain digits, else NaN: Number() also reads "6.0", "0x6", " 30" and "1e3". */
export function digitsOnly(text: string): number {
  return /^\d+$/.test(text) ? Number(text) : NaN;
}

/**
 * Argument/option parser for a file name (a usage error naming the option): an empty one, as `--qr-png "$FILE"`
 * gives with FILE unset, names no file. It was ignored (--qr-png: no file, exit 0) or read as the current folder
 * ("key file : folder /tmp does not exist").
 */
export function fileName(value: string): string {
  if (value === '') throw new InvalidArgumentError('It must name a file.');
  return value;
}

/** More than any password or shared secret; what goes beyond is a mistake (`< /dev/zero`, a binary file). */
const MAX_SECRET_INPUT = 64 * 1024;

/**
 * Reads a secret from standard input (one line; a trailing newline is not part of it). Never echoes it. At a
 * terminal (`--password-stdin` typed by hand) it asks for it on stderr and reads one line with the terminal's
 * echo off: read to the end of its input, unannounced, the command looked hung and the terminal showed the secret.
 */
export function readSecretFromStdin(what: string): string {
  let text: string;
  try {
    // bounded: `--password-stdin < /dev/zero` read forever (and then ran out of memory) where it should say what is wrong
    text = tty.isatty(0) ? readLineFromTerminal(what) : readAtMost(0, MAX_SECRET_INPUT).toString('utf8');
  } catch (e) {
    if (e instanceof FileTooLargeError) throw new CliError(`${what} on standard input is longer than ${MAX_SECRET_INPUT / 1024} KiB; is the right file given?`);
    throw new CliError(`cannot read ${what} from standard input (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const firstLine = text.replace(/\r?\n$/, '');
  if (firstLine.includes('\n')) throw new CliError(`${what} on standard input must be a single line`);
  if (firstLine.length === 0) throw new CliError(`${what} on standard input is empty`);
  return firstLine;
}

/**
 * One line typed at the terminal on standard input, after a prompt on stderr, with echo off (`stty -echo`, put
 * back after; node restores the terminal's settings should it be interrupted). Where echo cannot be turned off,
 * the prompt says the secret will show.
 */
function readLineFromTerminal(what: string): string {
  const stty = (arg: string): boolean => spawnSync('stty', [arg], { stdio: ['inherit', 'ignore', 'ignore'] }).status === 0;
  const hidden = stty('-echo');
  process.stderr.write(`Enter ${what}${hidden ? '' : ' (it will show as you type)'}, then Enter: `);
  const chunks: Buffer[] = [];
  let total = 0;
  const buffer = Buffer.alloc(4096);
  try {
    // a terminal hands over a line per read; Ctrl-D ends the input early
    for (;;) {
      const n = fs.readSync(0, buffer, 0, buffer.length, null);
      if (n === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, n)));
      total += n;
      if (total > MAX_SECRET_INPUT) throw new FileTooLargeError('too long');
      if (buffer[n - 1] === 0x0a) break;
    }
  } finally {
    if (hidden) stty('echo');
    process.stderr.write('\n');
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/**
 * A file for secret material (a QR code carrying a seed): created new, never over an existing file, and
 * readable by its owner only (0600 whatever the umask). `discard` removes it when what was to go in it
 * did not come about.
 */
export function createSecretFile(path: string): { write(data: Buffer): void; discard(): void } {
  let fd: number;
  try {
    fd = fs.openSync(path, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliError(`${path} already exists; not overwriting it`);
    throw new CliError(`cannot create ${path} (${code ?? (e as Error).message})`);
  }
  fs.fchmodSync(fd, 0o600);
  return {
    write(data) {
      try {
        fs.writeFileSync(fd, data);
      } finally {
        fs.closeSync(fd);
      }
    },
    discard() {
      fs.closeSync(fd);
      fs.rmSync(path, { force: true });
    },
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(
    JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v), 2) + '\n',
  );
}

/**
 * A plain aligned table for people; scripts use --json. Every cell goes through `printable`: some hold what came from
 * outside, such as the audit trail's User-Name, typed at a NAS's login prompt or put in a packet by whoever can send as
 * a client, where ESC would reach the admin's terminal as an escape sequence and CR/LF would forge rows.
 */
export function printTable(headers: string[], rows: (string | number | null | undefined)[][]): void {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : printable(String(c)))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write([line(headers), ...cells.map(line)].join('\n') + '\n');
}

export function printFields(fields: [string, unknown][]): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) {
    // printable: for the reason printTable gives
    const text = v === null || v === undefined ? '-' : v instanceof Date ? v.toISOString() : printable(String(v));
    process.stdout.write(`${(k + ':').padEnd(width + 1)} ${text}\n`);
  }
}
