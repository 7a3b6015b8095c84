// Zod-free: the rule compiler uses this at run time; the duration schema (duration.ts) builds on it.

/**
 * Durations in rules are written the way engineers say them: "500ms", "10s", "2m", "1h" (decimals
 * allowed: "1.5s"), or a plain integer number of milliseconds (as schema-kit's durationMs takes them).
 */
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a duration text, or null when it is not one. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * (UNITS[m[2] ?? ""] ?? Number.NaN);
  return Number.isFinite(ms) ? Math.round(ms) : null;
}
