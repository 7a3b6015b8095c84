import { z } from "zod";
import { describeInput } from "../schema-kit.js";

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

/** A duration field: "10s"-style text or a number of ms, bounded to [minMs, maxMs]; always ms after parsing. */
export function durationSchema(minMs: number, maxMs: number) {
  const what = `a duration ${minMs}..${maxMs} ms, as a number of ms or text like "500ms", "10s", "2m", "1h"`;
  // One union of the two input types and one transform that checks both, so every failure reads the
  // same way (a zod union would report a bare "Invalid input").
  return z.union([z.number(), z.string()], { error: (iss) => `expected ${what}, got ${describeInput(iss.input)}` }).transform((v, ctx) => {
    const ms = typeof v === "number" ? v : parseDuration(v);
    if (ms === null || !Number.isInteger(ms) || ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: "custom", message: `expected ${what}, got ${describeInput(v)}` });
      return z.NEVER;
    }
    return ms;
  });
}
