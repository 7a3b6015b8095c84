import type { SampleValue } from "../../model.js";

/** What a point's values are, as the device list for DBIRTH states it. */
export type MetricHint = "number" | "boolean" | "string" | "int64" | "uint64";

/** The Sparkplug B datatypes this uplink declares, with their codes from the spec's DataType enum. */
export const SPARKPLUG_TYPES = { Int64: 4, UInt64: 8, Double: 10, Boolean: 11, String: 12 } as const;
export type SparkplugType = keyof typeof SPARKPLUG_TYPES;

export function sparkplugTypeFor(hint: MetricHint): SparkplugType {
  switch (hint) {
    case "number":
      return "Double";
    case "boolean":
      return "Boolean";
    case "string":
      return "String";
    case "int64":
      return "Int64";
    case "uint64":
      return "UInt64";
  }
}

/**
 * A 64-bit integer as protobufjs writes it (two 32-bit halves). Sparkplug carries Int64 in the
 * uint64 `long_value` field as two's complement, so a negative Int64 is its unsigned bit pattern.
 */
export interface LongBits {
  low: number;
  high: number;
  unsigned: boolean;
}

export function longBits(v: bigint, unsigned: boolean): LongBits {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn), high: Number(u >> 32n), unsigned };
}

/** A metric's value in the field its datatype uses; null = is_null. */
export type MetricValue = { kind: "double"; value: number } | { kind: "boolean"; value: boolean } | { kind: "string"; value: string } | { kind: "long"; value: LongBits } | null;

export type Conversion = { ok: true; value: MetricValue } | { ok: false; reason: string };

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * A sample value in the metric's declared datatype, or why it does not fit. Nothing is rounded:
 * int64 values that travel as decimal strings become exact 64-bit integers, and a value that would
 * need rounding (a fraction for an integer metric, a big integer string for a Double) is refused.
 */
export function toMetricValue(type: SparkplugType, value: SampleValue | null): Conversion {
  if (value === null) return { ok: true, value: null };
  switch (type) {
    case "Double":
      return typeof value === "number" ? { ok: true, value: { kind: "double", value } } : mismatch(type, value);
    case "Boolean":
      return typeof value === "boolean" ? { ok: true, value: { kind: "boolean", value } } : mismatch(type, value);
    case "String":
      return typeof value === "string" ? { ok: true, value: { kind: "string", value } } : mismatch(type, value);
    case "Int64":
    case "UInt64": {
      const big = exactInteger(value);
      if (big === null) return mismatch(type, value);
      const inRange = type === "Int64" ? big >= INT64_MIN && big <= INT64_MAX : big >= 0n && big <= UINT64_MAX;
      if (!inRange) return { ok: false, reason: `${String(value)} is out of range for ${type}` };
      return { ok: true, value: { kind: "long", value: longBits(big, type === "UInt64") } };
    }
  }
}

/** An integer given as a safe JS integer or a decimal string; null for anything else. */
function exactInteger(value: SampleValue): bigint | null {
  if (typeof value === "number") return Number.isSafeInteger(value) ? BigInt(value) : null;
  if (typeof value === "string" && /^-?\d{1,20}$/.test(value)) return BigInt(value);
  return null;
}

function mismatch(type: SparkplugType, value: SampleValue): Conversion {
  return { ok: false, reason: `a ${typeof value} value (${JSON.stringify(value)}) does not fit a ${type} metric` };
}
