import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname } from "node:path";

/**
 * Decodes Sparkplug B payloads with Google's protoc and our own minimal .proto
 * (tests/fixtures/sparkplug/sparkplug_b.proto), independent of the codec the uplink uses: a codec
 * bug cannot hide in both sides. protoc prints the text format, parsed here into plain objects.
 */
const PROTO = fileURLToPath(new URL("../fixtures/sparkplug/sparkplug_b.proto", import.meta.url));

export interface DecodedProperty {
  type: number | undefined;
  value: bigint | number | boolean | string | undefined;
}

export interface DecodedMetric {
  name?: string;
  alias?: bigint;
  timestamp?: bigint;
  datatype?: number;
  isHistorical: boolean;
  isNull: boolean;
  /** The value field protoc found (int_value, long_value, ...), and its value. */
  valueField?: string;
  value?: bigint | number | boolean | string;
  properties: Record<string, DecodedProperty>;
}

export interface DecodedPayload {
  timestamp?: bigint;
  seq?: number;
  uuid?: string;
  body?: string;
  metrics: DecodedMetric[];
}

export function protocDecode(bytes: Uint8Array): Promise<DecodedPayload> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "protoc",
      [`--proto_path=${dirname(PROTO)}`, "--decode=edge_agent_test.sparkplug.Payload", PROTO],
      { timeout: 10_000, encoding: "buffer" },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`protoc failed: ${err.message} ${stderr.toString()}`));
        try {
          resolve(toPayload(parseTextFormat(stdout.toString("latin1"))));
        } catch (e) {
          reject(e as Error);
        }
      },
    );
    child.stdin?.end(Buffer.from(bytes));
  });
}

type TextValue = string | TextMessage;
interface TextMessage {
  [field: string]: TextValue[];
}

/** protoc's text format: `field: scalar` and `field { ... }`, strings C-escaped (bytes read as latin1). */
export function parseTextFormat(text: string): TextMessage {
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"]+/g) ?? [];
  let i = 0;
  const message = (): TextMessage => {
    const out: TextMessage = {};
    while (i < tokens.length && tokens[i] !== "}") {
      const field = tokens[i++] as string;
      let value: TextValue;
      if (tokens[i] === ":") {
        i++;
        value = scalar(tokens[i++] as string);
      } else if (tokens[i] === "{") {
        i++;
        value = message();
        if (tokens[i++] !== "}") throw new Error("unbalanced braces in protoc output");
      } else throw new Error(`unexpected token after ${field}: ${tokens[i]}`);
      (out[field] ??= []).push(value);
    }
    return out;
  };
  const result = message();
  if (i !== tokens.length) throw new Error("trailing tokens in protoc output");
  return result;
}

/** A quoted string's bytes decoded as UTF-8; other scalars as printed. */
function scalar(token: string): string {
  if (!token.startsWith('"')) return token;
  const bytes: number[] = [];
  const s = token.slice(1, -1);
  for (let k = 0; k < s.length; k++) {
    const c = s[k] as string;
    if (c !== "\\") {
      bytes.push(c.charCodeAt(0));
      continue;
    }
    const n = s[++k] as string;
    if (/[0-7]/.test(n)) {
      const oct = /^[0-7]{1,3}/.exec(s.slice(k))?.[0] as string;
      bytes.push(parseInt(oct, 8));
      k += oct.length - 1;
    } else if (n === "x") {
      const hex = /^[0-9a-fA-F]{1,2}/.exec(s.slice(k + 1))?.[0] as string;
      bytes.push(parseInt(hex, 16));
      k += hex.length;
    } else bytes.push(({ n: 10, r: 13, t: 9, '"': 34, "'": 39, "\\": 92 } as Record<string, number>)[n] ?? n.charCodeAt(0));
  }
  return Buffer.from(bytes).toString("utf8");
}

function one(m: TextMessage, field: string): string | undefined {
  const v = m[field]?.[0];
  return typeof v === "string" ? v : undefined;
}

function valueOf(field: string, raw: string): bigint | number | boolean | string {
  if (field === "long_value") return BigInt(raw);
  if (field === "int_value") return Number(raw);
  if (field === "double_value" || field === "float_value") return Number(raw);
  if (field === "boolean_value") return raw === "true";
  return raw;
}

const VALUE_FIELDS = ["int_value", "long_value", "float_value", "double_value", "boolean_value", "string_value", "bytes_value"];

function toPayload(m: TextMessage): DecodedPayload {
  const out: DecodedPayload = { metrics: [] };
  const ts = one(m, "timestamp");
  if (ts !== undefined) out.timestamp = BigInt(ts);
  const seq = one(m, "seq");
  if (seq !== undefined) out.seq = Number(seq);
  const uuid = one(m, "uuid");
  if (uuid !== undefined) out.uuid = uuid;
  const body = one(m, "body");
  if (body !== undefined) out.body = body;
  for (const raw of m.metrics ?? []) {
    if (typeof raw === "string") throw new Error("metric is not a message");
    const metric: DecodedMetric = { isHistorical: one(raw, "is_historical") === "true", isNull: one(raw, "is_null") === "true", properties: {} };
    const name = one(raw, "name");
    if (name !== undefined) metric.name = name;
    const alias = one(raw, "alias");
    if (alias !== undefined) metric.alias = BigInt(alias);
    const mts = one(raw, "timestamp");
    if (mts !== undefined) metric.timestamp = BigInt(mts);
    const dt = one(raw, "datatype");
    if (dt !== undefined) metric.datatype = Number(dt);
    for (const f of VALUE_FIELDS) {
      const v = one(raw, f);
      if (v !== undefined) {
        metric.valueField = f;
        metric.value = valueOf(f, v);
      }
    }
    const props = raw.properties?.[0];
    if (props && typeof props !== "string") {
      const keys = (props.keys ?? []) as string[];
      const values = (props.values ?? []) as TextMessage[];
      keys.forEach((k, idx) => {
        const pv = values[idx] ?? {};
        const field = VALUE_FIELDS.find((f) => one(pv, f) !== undefined);
        const t = one(pv, "type");
        metric.properties[k] = { type: t === undefined ? undefined : Number(t), value: field ? valueOf(field, one(pv, field) as string) : undefined };
      });
    }
    out.metrics.push(metric);
  }
  return out;
}

/** Encodes a payload written in protoc's text format (e.g. an NCMD a host would send), with the same .proto. */
export function protocEncode(text: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "protoc",
      [`--proto_path=${dirname(PROTO)}`, "--encode=edge_agent_test.sparkplug.Payload", PROTO],
      { timeout: 10_000, encoding: "buffer" },
      (err, stdout, stderr) => (err ? reject(new Error(`protoc failed: ${err.message} ${stderr.toString()}`)) : resolve(stdout)),
    );
    child.stdin?.end(text);
  });
}
