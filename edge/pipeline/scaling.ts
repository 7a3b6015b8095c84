import type { SampleValue } from "../model.js";

export interface Scaling {
  scale: number;
  offset: number;
}

/**
 * 15 significant digits: enough for any sensor, and it turns float noise such as 23.400000000000002
 * (from raw * 0.1) back into the number an engineer expects.
 */
function tidy(n: number): number {
  return Number(n.toPrecision(15));
}

const isIdentity = (s: Scaling) => s.scale === 1 && s.offset === 0;

/** Raw device value to engineering units: raw * scale + offset. Booleans and identity pass through. */
export function toEngineering(raw: SampleValue, s: Scaling): SampleValue {
  if (typeof raw === "boolean" || isIdentity(s)) return raw;
  // Number("") and Number(" ") are 0: a blank text is not a reading of zero.
  if (typeof raw === "string" && raw.trim() === "") return raw;
  const n = typeof raw === "number" ? raw : Number(raw);
  if (!Number.isFinite(n)) return raw;
  return tidy(n * s.scale + s.offset);
}

/** Engineering units back to the raw value a device expects, for writes. */
export function toRaw(value: SampleValue, s: Scaling): SampleValue {
  if (typeof value === "boolean" || isIdentity(s)) return value;
  const n = typeof value === "number" ? value : Number(value);
  const diff = n - s.offset;
  // n and offset each carry about 15 significant digits; when they are close, their difference keeps
  // fewer (-40.3 - -40 = -0.29999999999999716), so round away the digits the subtraction invented.
  const big = Math.max(Math.abs(n), Math.abs(s.offset));
  const lost = diff === 0 || big === 0 ? 0 : Math.max(0, Math.ceil(Math.log10(big / Math.abs(diff))));
  const raw = diff / s.scale;
  return Number.isFinite(raw) ? Number(raw.toPrecision(Math.max(1, 15 - lost))) : raw;
}
