import { hashPassword } from '../auth/password-hash';
import { hasControlCharacter } from '../lang/control-characters';
import type { ExistingToken, ExistingUser, UserImportWrite } from '../store/user-import';
import { CsvError, parseCsv } from './csv';

/**
 * A name of only spaces, or " alice" (a paste, a CSV's space after the comma), was created as typed: a user no one
 * logs in as, listed as a blank or as alice twice. A NAS sends the name as the user typed it.
 */
export const SURROUNDING_SPACE = 'usernames must not begin or end with spaces (a NAS sends the name as typed: " alice" is not alice)';

export const CSV_HEADER = ['username', 'password', 'method', 'token_serial'] as const;

export interface CsvUserRow {
  readonly line: number;
  readonly username: string;
  readonly password?: string;
  readonly method?: string;
  readonly tokenSerial?: string;
}

export interface ImportSummary {
  created: number;
  updated: number;
  passwordsSet: number;
  tokensAssigned: number;
}

/** What the import did to one user, for that user's row in the audit trail. */
export interface UserImportChange {
  readonly username: string;
  readonly created: boolean;
  readonly authMethod: string;
  readonly passwordSet: boolean;
  /** The pool token assigned to them by this import, if any. */
  readonly tokenSerial?: string;
}

/** A line the import refuses; nothing is imported. */
export class ImportError extends Error {
  override name = 'ImportError';
}

/**
 * What is wrong with a first line that is not the header, without quoting it: a file without its header
 * starts with a user's line, password included ("got "alice,hunter2,token,"" printed the password), and a
 * file separated by ';' is one field holding the whole line.
 */
function headerMismatch(names: readonly string[]): string {
  const shape = `(the line is not shown: it may be a user's, with a password)`;
  if (names.length !== CSV_HEADER.length) return `the first line has ${names.length} comma-separated field(s), not ${CSV_HEADER.length} ${shape}`;
  const column = CSV_HEADER.findIndex((name, i) => names[i] !== name);
  return `column ${column + 1} is not "${CSV_HEADER[column]}" ${shape}`;
}

/** Reads and checks the file's shape (header, columns, usernames, duplicates); no database needed. */
export function readUserCsv(text: string, methods: readonly string[]): CsvUserRow[] {
  const records = parseCsv(text);
  const header = records.next();
  if (header.done) throw new ImportError('the file is empty (expected the header username,password,method,token_serial)');
  const names = header.value.fields.map((f) => f.trim().toLowerCase());
  if (names.join(',') !== CSV_HEADER.join(',')) {
    throw new ImportError(`line ${header.value.line}: expected the header "${CSV_HEADER.join(',')}": ${headerMismatch(names)}`);
  }
  const rows: CsvUserRow[] = [];
  const seenUsers = new Map<string, number>();
  const seenSerials = new Map<string, number>();
  for (const r of records) {
    const fail = (why: string) => new CsvError(r.line, why);
    if (r.fields.length !== CSV_HEADER.length) throw fail(`expected ${CSV_HEADER.length} fields, got ${r.fields.length}`);
    const [username, password, method, serial] = r.fields;
    if (username.length === 0) throw fail('username is empty');
    if (Buffer.byteLength(username) > 253 || hasControlCharacter(username)) throw fail(`username "${username}" is longer than 253 bytes or has control characters`);
    if (username.trim() !== username) throw fail(`username "${username}": ${SURROUNDING_SPACE}`);
    if (seenUsers.has(username)) throw fail(`user "${username}" already appears on line ${seenUsers.get(username)}`);
    seenUsers.set(username, r.line);
    // Not quoted: a password holding an unquoted comma (`bob,pass,word,`) puts its end in this column, and the
    // refusal printed it ("unknown method "word""), as the header check did with a whole line (headerMismatch).
    if (method && !methods.includes(method)) throw fail(`unknown method in column 3 (expected ${methods.join(', ')}; the value is not shown: it may be part of a password holding a comma)`);
    if (password && FOREIGN_HASH.test(password) && !PHC_ARGON2.test(password)) {
      throw fail('the password is a hash radotp cannot check: only argon2 PHC strings ($argon2id$v=19$m=...) are kept as hashes, anything else is taken as the password itself (the value is not shown)');
    }
    const tokenSerial = serial.trim();
    if (tokenSerial) {
      if (seenSerials.has(tokenSerial)) throw fail(`token ${tokenSerial} is already given to another user on line ${seenSerials.get(tokenSerial)}`);
      seenSerials.set(tokenSerial, r.line);
    }
    rows.push({ line: r.line, username, password: password || undefined, method: method || undefined, tokenSerial: tokenSerial || undefined });
  }
  return rows;
}

/** A value that is already an argon2 PHC hash is stored as given, so users can move between systems without their passwords. */
const PHC_ARGON2 = /^\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/**
 * The crypt(3) and PHC schemes another system's export holds (md5-crypt, bcrypt, sha256/512-crypt, yescrypt, scrypt,
 * pbkdf2, and argon2 itself): such a value that is no whole argon2 PHC string (above) is a hash radotp cannot check.
 * It was hashed as a clear password, so the user's password became the text of their old hash. A clear password
 * rarely starts so ("$money$" does not).
 */
const FOREIGN_HASH = /^\$(1|2[abxy]?|5|6|7|y|gy|sha1|md5|scrypt|pbkdf2(-sha\d+)?|argon2(i|d|id)?)\$/;

export async function hashImportPasswords(rows: readonly CsvUserRow[], onHashed: () => void): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const todo = rows.filter((r) => r.password !== undefined);
  let next = 0;
  // argon2 runs on the libuv pool; a few at a time keeps every pool thread busy
  const worker = async () => {
    while (next < todo.length) {
      const r = todo[next++];
      out.set(r.line, PHC_ARGON2.test(r.password!) ? r.password! : await hashPassword(r.password!));
      onHashed();
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return out;
}

/**
 * The token a CSV line names, as every token command finds one (src/tokens/serial-lookup.ts): serials are read off
 * a fob and typed, so case is forgiven. The token of exactly that serial if there is one, else the one whose serial
 * equals it ignoring case; several such are named and none is picked (ImportError).
 */
function tokenNamed(
  typed: string,
  tokens: ReadonlyMap<string, ExistingToken>,
  byLowerCase: ReadonlyMap<string, readonly ExistingToken[]>,
  where: string,
): ExistingToken | undefined {
  const exact = tokens.get(typed);
  if (exact) return exact;
  const variants = byLowerCase.get(typed.toLowerCase()) ?? [];
  if (variants.length > 1) {
    throw new ImportError(`${where} matches ${variants.map((t) => t.serial).sort().join(', ')} ignoring case: type it exactly`);
  }
  return variants[0];
}

function groupByLowerCase(tokens: ReadonlyMap<string, ExistingToken>): Map<string, ExistingToken[]> {
  const groups = new Map<string, ExistingToken[]>();
  for (const t of tokens.values()) {
    const key = t.serial.toLowerCase();
    const group = groups.get(key);
    if (group) group.push(t);
    else groups.set(key, [t]);
  }
  return groups;
}

/** Decides every row against what the database holds; throws ImportError naming the line on the first problem. */
export function planUserImport(
  rows: readonly CsvUserRow[],
  existing: { users: ReadonlyMap<string, ExistingUser>; tokens: ReadonlyMap<string, ExistingToken> },
  hashes: ReadonlyMap<number, string>,
  defaultMethod: string,
): UserImportWrite & { summary: ImportSummary & { changes: UserImportChange[] } } {
  const summary: ImportSummary = { created: 0, updated: 0, passwordsSet: 0, tokensAssigned: 0 };
  const changes: UserImportChange[] = [];
  const users: UserImportWrite['users'][number][] = [];
  const assignments: { serial: string; username: string }[] = [];
  let byLowerCase: ReadonlyMap<string, readonly ExistingToken[]> | undefined;
  /** The line that named each token found (by its stored serial). */
  const namedOn = new Map<string, number>();
  for (const r of rows) {
    const before = existing.users.get(r.username);
    const hash = hashes.get(r.line);
    const method = r.method ?? before?.method ?? defaultMethod;
    users.push({ username: r.username, method, passwordHash: hash ?? before?.passwordHash ?? null });
    let assigned: string | undefined;
    if (before) summary.updated++;
    else summary.created++;
    if (hash) summary.passwordsSet++;
    if (r.tokenSerial) {
      const where = `line ${r.line}: token ${r.tokenSerial}`;
      const t = tokenNamed(r.tokenSerial, existing.tokens, (byLowerCase ??= groupByLowerCase(existing.tokens)), where);
      if (!t) throw new ImportError(`${where} does not exist (import it first with \`radotp token import\`)`);
      // two lines naming one token in different cases (readUserCsv compares them as typed)
      const earlier = namedOn.get(t.serial);
      if (earlier !== undefined) throw new ImportError(`${where} is ${t.serial}, already given to another user on line ${earlier}`);
      namedOn.set(t.serial, r.line);
      if (t.state === 'disabled') throw new ImportError(`${where} is disabled`);
      if (t.username && t.username !== r.username) throw new ImportError(`${where} is already assigned to ${t.username}`);
      if (t.state === 'pending') throw new ImportError(`${where} is a pending software token`);
      // as `token assign` (TokenAdmin.assign): a login never uses a token past the end of its validity
      if (t.expiredOn && t.username !== r.username) {
        throw new ImportError(`${where} expired on ${t.expiredOn.toISOString()} (the end of its validity): it would never log ${r.username} in`);
      }
      if (t.username !== r.username) {
        assignments.push({ serial: t.serial, username: r.username });
        summary.tokensAssigned++;
        assigned = t.serial;
      }
    }
    changes.push({ username: r.username, created: !before, authMethod: method, passwordSet: !!hash, tokenSerial: assigned });
  }
  return { users, assignments, summary: { ...summary, changes } };
}

