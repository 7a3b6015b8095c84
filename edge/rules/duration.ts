import { z } from "zod";
import { durationMs } from "../schema-kit.js";

/**
 * Durations in rules are written the way engineers say them: "500ms", "10s", "2m", "1h" (decimals
 * allowed: "1.5s"), or a plain number of milliseconds.
 */
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a duration text, or null when it is not one. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * (UNITS[m[2] ?? ""] ?? Number.NaN);
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

/** A duration field: "10s"-style text or a number of ms, bounded to [minMs, maxMs]; always ms after parsing. */
export function durationSchema(minMs: number, maxMs: number) {
  const text = z.string().transform((s, ctx) => {
    const ms = parseDuration(s);
    if (ms === null) {
      ctx.addIssue({ code: "custom", message: `expected a duration like "500ms", "10s", "2m" or "1h", got ${JSON.stringify(s)}` });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: "custom", message: `expected a duration ${minMs}..${maxMs} ms, got ${JSON.stringify(s)} (${ms} ms)` });
      return z.NEVER;
    }
    return ms;
  });
  return z.union([durationMs(minMs, maxMs), text]);
}
