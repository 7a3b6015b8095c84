/**
 * OPC UA values <-> samples: status codes to quality, the server's timestamps to `ts`, Variants to
 * sample values (64-bit integers beyond 2^53 as decimal strings, never rounded) and back for writes
 * and method arguments, checked against the target type before anything is sent.
 */
import { DataType, Variant, VariantArrayType, type DataValue, type StatusCode } from "node-opcua-client";
import type { Quality, Sample, SampleValue } from "../../model.js";
import { EdgeError } from "../../errors.js";
import type { OpcuaDataType } from "./config.js";

export const dataTypeByName: Record<OpcuaDataType, DataType> = {
  Boolean: DataType.Boolean,
  SByte: DataType.SByte,
  Byte: DataType.Byte,
  Int16: DataType.Int16,
  UInt16: DataType.UInt16,
  Int32: DataType.Int32,
  UInt32: DataType.UInt32,
  Int64: DataType.Int64,
  UInt64: DataType.UInt64,
  Float: DataType.Float,
  Double: DataType.Double,
  String: DataType.String,
  DateTime: DataType.DateTime,
};

/** Good / Uncertain / Bad from the two severity bits of a status code. */
export function qualityOf(status: StatusCode): Quality {
  const severity = status.value >>> 30;
  return severity === 0 ? "good" : severity === 1 ? "uncertain" : "bad";
}

const TWO32 = 4294967296n;

/** node-opcua's [high, low] 64-bit words as a number when exact, else a decimal string. */
function int64Value(words: unknown, signed: boolean): SampleValue {
  if (!Array.isArray(words) || words.length !== 2) return String(words);
  const hi = BigInt((words[0] as number) >>> 0);
  const lo = BigInt((words[1] as number) >>> 0);
  let v = hi * TWO32 + lo;
  if (signed) v = BigInt.asIntN(64, v);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

function scalar(dataType: DataType, v: unknown): SampleValue | null {
  if (v === null || v === undefined) return null;
  switch (dataType) {
    case DataType.Int64:
      return int64Value(v, true);
    case DataType.UInt64:
      return int64Value(v, false);
    case DataType.DateTime:
      return v instanceof Date ? v.toISOString() : String(v);
    case DataType.ByteString:
      return Buffer.isBuffer(v) ? v.toString("base64") : String(v);
    case DataType.LocalizedText:
      return (v as { text?: string | null }).text ?? "";
    case DataType.StatusCode:
      return (v as { name?: string }).name ?? String(v);
  }
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "bigint") return v.toString();
  if (typeof (v as { toJSON?: unknown }).toJSON === "function") return JSON.stringify(v);
  return String(v);
}

/** A Variant as a sample value; arrays and matrices travel as a JSON string of their elements. */
export function sampleValueOf(variant: Variant | null | undefined): SampleValue | null {
  if (!variant || variant.dataType === DataType.Null) return null;
  if (variant.arrayType === VariantArrayType.Scalar) return scalar(variant.dataType, variant.value);
  const items = Array.from(variant.value as ArrayLike<unknown>, (x) => scalar(variant.dataType, x));
  return JSON.stringify(items);
}

/** A notification or read result as a sample; ts is the source timestamp, else the server's, else now. */
export function toSample(point: string, dv: DataValue, now: number): Sample {
  const quality = qualityOf(dv.statusCode);
  const ts = dv.sourceTimestamp?.getTime() ?? dv.serverTimestamp?.getTime() ?? now;
  const value = quality === "bad" ? null : sampleValueOf(dv.value);
  const sample: Sample = { point, ts: Number.isFinite(ts) ? ts : now, value, quality };
  if (quality !== "good") sample.reason = dv.statusCode.name;
  else if (value === null) {
    sample.quality = "uncertain";
    sample.reason = "the server sent no value";
  }
  return sample;
}

const intRanges: Partial<Record<DataType, [number, number]>> = {
  [DataType.SByte]: [-128, 127],
  [DataType.Byte]: [0, 255],
  [DataType.Int16]: [-32768, 32767],
  [DataType.UInt16]: [0, 65535],
  [DataType.Int32]: [-2147483648, 2147483647],
  [DataType.UInt32]: [0, 4294967295],
};

function typeName(dataType: DataType): string {
  return DataType[dataType] ?? `DataType ${dataType}`;
}

function numeric(value: SampleValue, what: string, type: string): number {
  const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) throw new EdgeError("WRITE_TYPE", `${what}: ${JSON.stringify(value)} is not a number (the target is ${type})`);
  return n;
}

/** Converts a sample value to a Variant of the target type, or throws WRITE_TYPE naming `what`. */
export function toVariant(dataType: DataType, value: SampleValue, what: string): Variant {
  const type = typeName(dataType);
  const fail = (why: string) => new EdgeError("WRITE_TYPE", `${what}: ${JSON.stringify(value)} ${why} (the target is ${type})`);
  switch (dataType) {
    case DataType.Boolean: {
      if (typeof value === "boolean") return new Variant({ dataType, value });
      if (value === 0 || value === 1 || value === "0" || value === "1") return new Variant({ dataType, value: Number(value) === 1 });
      if (value === "true" || value === "false") return new Variant({ dataType, value: value === "true" });
      throw fail("is not a boolean");
    }
    case DataType.Float:
    case DataType.Double: {
      const n = numeric(value, what, type);
      if (dataType === DataType.Float && Math.abs(n) > 3.4028234663852886e38) throw fail("is beyond the Float range");
      return new Variant({ dataType, value: n });
    }
    case DataType.Int64:
    case DataType.UInt64: {
      let big: bigint;
      try {
        if (typeof value === "number" && !Number.isSafeInteger(value)) throw new Error();
        big = BigInt(typeof value === "boolean" ? Number(value) : value);
      } catch {
        throw fail("is not an integer (give a safe integer or a decimal string)");
      }
      const signed = dataType === DataType.Int64;
      const [min, max] = signed ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
      if (big < min || big > max) throw fail(`is out of range ${min}..${max}`);
      const u = BigInt.asUintN(64, big);
      const hi = Number(u / TWO32);
      const words = [signed ? hi | 0 : hi, Number(u % TWO32)];
      return new Variant({ dataType, arrayType: VariantArrayType.Scalar, value: words });
    }
    case DataType.String:
      if (typeof value !== "string") throw fail("is not a string");
      return new Variant({ dataType, value });
    case DataType.DateTime: {
      const ms = typeof value === "number" ? value : typeof value === "string" ? Date.parse(value) : Number.NaN;
      if (!Number.isFinite(ms)) throw fail("is not a date (ms since the epoch or an ISO 8601 string)");
      return new Variant({ dataType, value: new Date(ms) });
    }
    default: {
      const range = intRanges[dataType];
      if (!range) throw new EdgeError("WRITE_TYPE", `${what}: writing ${type} values is not supported; set dataType on the point to a supported type`);
      const n = numeric(value, what, type);
      if (!Number.isInteger(n)) throw fail("is not an integer");
      if (n < range[0] || n > range[1]) throw fail(`is out of range ${range[0]}..${range[1]}`);
      return new Variant({ dataType, value: n });
    }
  }
}
