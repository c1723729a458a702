import os from 'node:os';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { readFileOrPipe } from '../lang/regular-file';
import { suggestKey } from './key-suggestion';
import { configSchema, type RadotpConfig } from './schema';

/** A config problem, worded for an admin: which file, which key, what is wrong. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadedConfig extends RadotpConfig {
  /** Absolute path of the file read, or undefined when none existed and defaults were used. */
  readonly source?: string;
  /** Resolved absolute paths. */
  readonly keyFilePath: string;
  readonly dataDirPath: string;
}

export const DEFAULT_CONFIG_FILE = 'radotp.yaml';

/** `--config FILE`, else `$RADOTP_CONFIG`, else ./radotp.yaml (which may be absent: then defaults apply). */
export function resolveConfigPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): { file: string; required: boolean } {
  if (explicit) return { file: path.resolve(explicit), required: true };
  if (env.RADOTP_CONFIG) return { file: path.resolve(env.RADOTP_CONFIG), required: true };
  return { file: path.resolve(DEFAULT_CONFIG_FILE), required: false };
}

/** `nonPlain`: key paths of the values YAML tags turned into something other than text, numbers, lists and mappings. */
function formatIssues(file: string, error: z.ZodError, nonPlain: ReadonlyMap<string, string>): string {
  const lines = error.issues.flatMap((issue) => {
    const key = issue.path.length ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length ? issue.path.join('.') + '.' : '';
      return issue.keys.map((k) => {
        const near = suggestKey(configSchema, issue.path, k);
        return `${prefix}${k}: unknown key${near ? ` (did you mean ${near}?)` : ''}`;
      });
    }
    // zod saw the stand-in symbol: say what the file holds instead of "received symbol".
    const kind = nonPlain.get(key);
    if (kind) return `${key}: ${issue.code === 'invalid_type' ? `expected ${issue.expected}` : issue.message}, not ${kind}`;
    return `${key}: ${issue.message}`;
  });
  // The wrong file (`-c /etc/shadow`) listed each of its lines as an unknown key, on one line of any length.
  const more = lines.length - MAX_ISSUES_SHOWN;
  return `${file}: ${lines.slice(0, MAX_ISSUES_SHOWN).join('; ')}${more > 0 ? `; and ${more} more problem${more === 1 ? '' : 's'}` : ''}`;
}

const MAX_ISSUES_SHOWN = 10;

/**
 * A config file is a few KiB (config.example.yaml, every key with its comment, is 7). A 50 MB file of keys
 * (a log or a dump named by mistake) held the command for minutes and 2.6 GB of memory before its refusal.
 */
const MAX_CONFIG_FILE = 1024 * 1024;

const NON_PLAIN = Symbol('non-plain YAML value');

/** What YAML's typed values (explicit tags, or implicit ones under %YAML 1.1) become in toJS, for the message. */
function nonPlainKind(value: object): string | undefined {
  if (Array.isArray(value)) return undefined;
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return undefined;
  if (value instanceof Uint8Array) return 'binary data (!!binary)';
  if (value instanceof Date) return 'a date (!!timestamp)';
  if (value instanceof Set) return 'a set (!!set)';
  if (value instanceof Map) return 'an ordered map (!!omap)';
  return 'a typed YAML value';
}

/**
 * Replaces every value that is not text, a number, true/false, null, a list or a mapping with a symbol, which
 * every key of the schema refuses, and returns where they were. zod would otherwise take a Buffer (!!binary)
 * for a mapping and list each of its methods as an unknown key. Aliases share objects, and `&a [*a]` is a
 * cycle: each object is walked once.
 */
function replaceNonPlain(value: unknown, at: readonly (string | number)[], found: Map<string, string>, seen: Set<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  const kind = nonPlainKind(value);
  if (kind) {
    found.set(at.join('.'), kind);
    return NON_PLAIN;
  }
  if (seen.has(value)) return value;
  seen.add(value);
  const record = value as Record<string, unknown>;
  for (const k of Object.keys(record)) {
    const v = record[k];
    const replaced = replaceNonPlain(v, [...at, Array.isArray(value) ? Number(k) : k], found, seen);
    // defineProperty: a key named "__proto__" is data here, not the prototype.
    if (replaced !== v) Object.defineProperty(record, k, { value: replaced, enumerable: true, writable: true, configurable: true });
  }
  return value;
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lines = new LineCounter();
  // logLevel 'error': the library would print its warnings to stderr itself (several lines); they are refused below.
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines, logLevel: 'error' });
  // A warning is refused too: an unknown tag (`!secret x`) would otherwise be read as plain text.
  const e = doc.errors[0] ?? doc.warnings[0];
  if (e) {
    const pos = lines.linePos(e.pos[0]);
    const where = `:${pos.line}:${pos.col}`;
    throw new ConfigError(`${file}${where}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // Aliases expanding past the library's limit (an "alias bomb") are refused here, with no position.
    throw new ConfigError(`${file}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || nonPlainKind(raw)) throw new ConfigError(`${file}: expected a mapping at the top level`);
  return finish(raw, file, env);
}

function finish(raw: object, file: string, env: NodeJS.ProcessEnv): LoadedConfig {
  const nonPlain = new Map<string, string>();
  replaceNonPlain(raw, [], nonPlain, new Set());
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(file, result.error, nonPlain));
  const cfg = result.data;
  if (env.RADOTP_DATABASE_URL) {
    const url = z.url({ protocol: /^postgres(ql)?$/ }).safeParse(env.RADOTP_DATABASE_URL);
    if (!url.success) throw new ConfigError(`$RADOTP_DATABASE_URL: expected a postgres:// URL`);
    cfg.database.url = url.data;
  }
  // Relative paths are relative to the config file's folder, so a service can be started from anywhere.
  const base = path.dirname(file);
  const dataDirPath = path.resolve(base, cfg.dataDir);
  const keyFilePath = path.resolve(base, cfg.keyFile ?? path.join(cfg.dataDir, 'master.key'));
  return {
    ...cfg,
    previousKeyFiles: cfg.previousKeyFiles.map((p) => path.resolve(base, p)),
    radius: { ...cfg.radius, dictionaries: cfg.radius.dictionaries.map((p) => path.resolve(base, p)) },
    source: file,
    dataDirPath,
    keyFilePath,
  };
}

export function loadConfig(explicit?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const { file, required } = resolveConfigPath(explicit, env);
  let text: string;
  try {
    text = readFileOrPipe(file, MAX_CONFIG_FILE).toString('utf8'); // not /dev/zero, read until node aborted
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && !required) return { ...finish({}, file, env), source: undefined };
    throw new ConfigError(`${file}: cannot read config file (${err.code ?? err.message})`);
  }
  return parseConfig(text, file, env);
}

/** The name a node gives itself in the audit trail, the log and challenges: `node.name`, else the host name. */
export function nodeName(cfg: Pick<RadotpConfig, 'node'>): string {
  return cfg.node.name ?? os.hostname();
}
