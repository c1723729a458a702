/**
 * "did you mean maxPending?" for a mistyped config key: the key of the same mapping that the mistake is closest to
 * (two edits at most, or a difference in case only), else nothing.
 */
export function suggestKey(schema: unknown, at: readonly PropertyKey[], mistake: string): string | undefined {
  const keys = keysAt(schema, at);
  const lower = mistake.toLowerCase();
  const sameIgnoringCase = keys.find((k) => k.toLowerCase() === lower);
  if (sameIgnoringCase) return sameIgnoringCase;
  let best: { key: string; distance: number } | undefined;
  for (const key of keys) {
    const distance = editDistance(lower, key.toLowerCase());
    if (distance <= MAX_EDITS && distance < key.length / 2 && (!best || distance < best.distance)) best = { key, distance };
  }
  return best?.key;
}

const MAX_EDITS = 2;

/** The keys of the mapping at `at` in a zod schema, walking the wrappers config/schema.ts uses. */
function keysAt(schema: unknown, at: readonly PropertyKey[]): string[] {
  const def = (schema as { _zod?: { def?: Record<string, any> } })?._zod?.def;
  if (!def) return [];
  switch (def.type) {
    case 'pipe': // section(): preprocess, then the mapping
      return keysAt(def.out?._zod?.def?.type === 'transform' ? def.in : def.out, at);
    case 'prefault':
    case 'default':
    case 'optional':
    case 'nullable':
      return keysAt(def.innerType, at);
    case 'object': {
      const shape = def.shape as Record<string, unknown>;
      if (at.length === 0) return Object.keys(shape);
      const next = shape[String(at[0])];
      return next ? keysAt(next, at.slice(1)) : [];
    }
    default:
      return [];
  }
}

/** Levenshtein distance, counting a swap of two neighbours as one edit (maxPneding). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
