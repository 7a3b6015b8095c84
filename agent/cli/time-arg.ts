import { UsageError } from "./command.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time on the command line: `now`, a relative `-2h` / `-30m` / `-15s` / `-1d` (before now), or
 * ISO 8601 (`2024-05-01T08:00:00Z`, a date alone = midnight UTC). Anything else is a usage error.
 */
export function parseTimeArg(text: string, flag: string, now: number): number {
  const t = text.trim();
  if (t === "now") return now;
  const rel = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(t);
  if (rel) return now - Number(rel[1]) * (UNIT_MS[rel[2] as string] ?? 0);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new UsageError(`${flag} must be ISO 8601 (2024-05-01T08:00:00Z), "now" or relative like -2h, -30m, -1d; got ${JSON.stringify(text)}`);
}
