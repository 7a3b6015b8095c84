import type { Quality } from "../../model.js";
import type { SpProperty } from "./payload.js";

/**
 * Sparkplug 3.0's metric quality: a `Quality` property (Int32) with 0 = BAD, 192 = GOOD, 500 = STALE.
 * A good sample carries no property (the spec reads its absence as good) to keep DATA small; an
 * uncertain one is sent as STALE, the nearest the spec offers. `reason` (String) says why, for people.
 */
export const QUALITY_CODES: Readonly<Record<Quality, number>> = { good: 192, bad: 0, uncertain: 500 };

export function qualityProperties(quality: Quality, reason: string | undefined): Record<string, SpProperty> {
  if (quality === "good" && reason === undefined) return {};
  const out: Record<string, SpProperty> = { Quality: { type: "Int32", value: QUALITY_CODES[quality] } };
  if (reason !== undefined) out.reason = { type: "String", value: reason };
  return out;
}
