import proto from "sparkplug-payload/lib/sparkplugPayloadProto.js";
import { EdgeError, errorMessage } from "../../errors.js";
import { SPARKPLUG_TYPES, type MetricValue, type SparkplugType } from "./values.js";

type ProtoMetric = proto.org.eclipse.tahu.protobuf.Payload.IMetric;
type ProtoPropertyValue = proto.org.eclipse.tahu.protobuf.Payload.IPropertyValue;
const ProtoPayload = proto.org.eclipse.tahu.protobuf.Payload;

/** Property value types used here, with their DataType codes. */
const PROPERTY_TYPES = { Int32: 3, UInt64: 8, String: 12 } as const;

export type SpProperty =
  | { type: "Int32"; value: number }
  | { type: "UInt64"; value: number }
  | { type: "String"; value: string };

/** One metric as this uplink builds it; turned into the protobuf message by encodePayload(). */
export interface SpMetric {
  /** Required in births; left out of NDATA/DDATA, which use the alias only. */
  name?: string;
  alias?: number;
  /** Required in births; the spec asks DATA messages to leave it out (the birth declared it). */
  type?: SparkplugType;
  value: MetricValue;
  timestamp?: number;
  /** Read while offline and sent from the backlog: hosts store it without updating the live tag. */
  historical?: boolean;
  properties?: Readonly<Record<string, SpProperty>>;
}

export interface SpPayload {
  timestamp: number;
  /** Absent only in NDEATH. */
  seq?: number;
  metrics: readonly SpMetric[];
  uuid?: string;
  body?: Uint8Array;
}

/**
 * Encodes a Sparkplug B payload with the protobuf classes generated from Tahu's sparkplug_b.proto
 * (shipped in sparkplug-payload). We set the fields ourselves rather than going through that package's
 * object mapper, which always writes a datatype and has no exact path for 64-bit values.
 */
export function encodePayload(p: SpPayload): Uint8Array {
  return ProtoPayload.encode({
    timestamp: p.timestamp,
    metrics: p.metrics.map(toProtoMetric),
    ...(p.seq !== undefined ? { seq: p.seq } : {}),
    ...(p.uuid !== undefined ? { uuid: p.uuid } : {}),
    ...(p.body !== undefined ? { body: p.body } : {}),
  }).finish();
}

function toProtoMetric(m: SpMetric): ProtoMetric {
  const out: ProtoMetric = {};
  if (m.name !== undefined) out.name = m.name;
  if (m.alias !== undefined) out.alias = m.alias;
  if (m.timestamp !== undefined) out.timestamp = m.timestamp;
  if (m.type !== undefined) out.datatype = SPARKPLUG_TYPES[m.type];
  if (m.historical) out.isHistorical = true;
  if (m.properties) {
    const keys = Object.keys(m.properties);
    if (keys.length > 0) out.properties = { keys, values: keys.map((k) => toProtoProperty(m.properties?.[k] as SpProperty)) };
  }
  const v = m.value;
  if (v === null) out.isNull = true;
  else if (v.kind === "double") out.doubleValue = v.value;
  else if (v.kind === "boolean") out.booleanValue = v.value;
  else if (v.kind === "string") out.stringValue = v.value;
  // protobufjs writes any {low, high} object as the two halves of a uint64: exact beyond 2^53.
  else out.longValue = v.value as unknown as ProtoMetric["longValue"];
  return out;
}

function toProtoProperty(p: SpProperty): ProtoPropertyValue {
  const type = PROPERTY_TYPES[p.type];
  if (p.type === "String") return { type, stringValue: p.value };
  if (p.type === "Int32") return { type, intValue: p.value };
  return { type, longValue: p.value };
}

/** A received command metric, as far as this edge node cares. */
export interface CommandMetric {
  name: string | null;
  alias: number | null;
  booleanValue: boolean | null;
}

/** Decodes an NCMD payload; throws EdgeError SPARKPLUG_PAYLOAD when it is not a Sparkplug B payload. */
export function decodeCommand(bytes: Uint8Array): CommandMetric[] {
  let decoded: proto.org.eclipse.tahu.protobuf.Payload;
  try {
    decoded = ProtoPayload.decode(bytes);
  } catch (err) {
    throw new EdgeError("SPARKPLUG_PAYLOAD", `not a Sparkplug B payload: ${errorMessage(err)}`, { cause: err });
  }
  return decoded.metrics.map((m) => ({
    name: has(m, "name") ? (m.name ?? null) : null,
    alias: has(m, "alias") ? toNumber(m.alias) : null,
    booleanValue: has(m, "booleanValue") ? (m.booleanValue ?? null) : null,
  }));
}

function has(m: proto.org.eclipse.tahu.protobuf.Payload.IMetric, field: keyof ProtoMetric): boolean {
  return Object.prototype.hasOwnProperty.call(m, field);
}

/** A decoded uint64 (a number, or a Long when protobufjs found the long package). */
function toNumber(v: unknown): number | null {
  if (typeof v === "number") return v;
  if (typeof v === "object" && v !== null && "low" in v && "high" in v) {
    const { low, high } = v as { low: number; high: number };
    return (high >>> 0) * 2 ** 32 + (low >>> 0);
  }
  return null;
}
