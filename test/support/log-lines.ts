import { readFileSync } from 'node:fs';

/** One pino line of a server's JSON log: its level (30 info, 40 warn, 50 error), message, and whatever fields it has. */
export type LogLine = { level: number; msg: string } & Record<string, unknown>;

/** The lines a server has written to its JSON log file so far, parsed. */
export function logLines<T extends object = Record<string, unknown>>(file: string): (LogLine & T)[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine & T);
}
