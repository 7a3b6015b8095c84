import { z } from "zod";
import { describeInput } from "../schema-kit.js";

// parseDuration is in duration-text.ts, without zod: the rule compiler runs in the agent's main thread,
// which does not load zod (~12 MB resident) unless a rule needs validating.
import { parseDuration } from "./duration-text.js";
export { parseDuration };

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
