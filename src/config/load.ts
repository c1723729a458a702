import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
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

function formatIssues(file: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.length ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length ? issue.path.join('.') + '.' : '';
      return issue.keys.map((k) => `${prefix}${k}: unknown key`).join('; ');
    }
    return `${key}: ${issue.message}`;
  });
  return `${file}: ${lines.join('; ')}`;
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const pos = lines.linePos(e.pos[0]);
    const where = `:${pos.line}:${pos.col}`;
    throw new ConfigError(`${file}${where}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: expected a mapping at the top level`);
  return finish(raw, file, env);
}

function finish(raw: unknown, file: string, env: NodeJS.ProcessEnv): LoadedConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(file, result.error));
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
    text = fs.readFileSync(file, 'utf8');
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
