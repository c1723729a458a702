/** Durations in config may be written as seconds (120) or with a unit ("120s", "15m", "2h", "1d"). */
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

export function parseDurationSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_SECONDS[m[2] ?? 's'];
}

const DAY_SECONDS = 86_400;

/**
 * How long audit events are kept, in seconds: a duration of at least a day, else undefined. A number
 * alone means seconds, and `90` meant as days would otherwise empty the trail within minutes.
 */
export function parseRetentionSeconds(value: unknown): number | undefined {
  const s = parseDurationSeconds(value);
  return s !== undefined && s >= DAY_SECONDS ? s : undefined;
}
