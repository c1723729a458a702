/** Durations in config may be written as seconds (120) or with a unit ("120s", "15m", "2h", "1d"). */
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

export function parseDurationSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_SECONDS[m[2] ?? 's'];
}

/** A whole number of the largest unit that divides it ("90d", "15m", "250ms"), to state bounds and defaults in messages. */
export function formatDuration(seconds: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = seconds / UNIT_SECONDS[unit];
    if (n >= 1 && Number.isInteger(n)) return `${n}${unit}`;
  }
  return `${Math.round(seconds * 1000)}ms`;
}

/** Inclusive bounds of a duration, in seconds. */
export interface DurationRange {
  readonly min: number;
  readonly max: number;
}

/** Seconds within `range`, else undefined (unparseable and out of range alike). */
export function parseDurationIn(value: unknown, range: DurationRange): number | undefined {
  const s = parseDurationSeconds(value);
  return s !== undefined && s >= range.min && s <= range.max ? s : undefined;
}

const DAY_SECONDS = 86_400;

/**
 * Audit retention and `audit prune --older-than`. At least a day: a number alone means seconds, and `90`
 * meant as days would otherwise empty the trail within minutes. At most 100 years: the cut-off
 * (now - retention) must stay a date that JavaScript and PostgreSQL can represent.
 */
export const RETENTION_RANGE: DurationRange = { min: DAY_SECONDS, max: 36_500 * DAY_SECONDS };

/** How long audit events are kept, in seconds: a duration in RETENTION_RANGE, else undefined. */
export function parseRetentionSeconds(value: unknown): number | undefined {
  return parseDurationIn(value, RETENTION_RANGE);
}
