import { OtaError } from "./errors.js";

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units, JavaScript's default sort), no whitespace,
 * strings escaped as JSON.stringify does, numbers limited to safe integers.
 *
 * Signatures cover bytes, so signer and verifier must produce the very same bytes from the same value.
 * Floats are refused because their text form differs between languages (1e21, 0.1+0.2...), and a
 * verifier in another language must be able to rebuild these bytes. Anything that is not plain JSON
 * data (undefined, functions, Dates, Maps) is refused rather than silently dropped, so a field can
 * never vanish between what was signed and what is used.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, "$");
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}

function encode(value: unknown, path: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isSafeInteger(value)) throw new OtaError("OTA_MANIFEST_INVALID", `canonical JSON allows only safe integers, got ${value} at ${path}`);
      // -0 prints as 0 in JSON.stringify; keep it that way.
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map((v, i) => encode(v, `${path}[${i}]`)).join(",")}]`;
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new OtaError("OTA_MANIFEST_INVALID", `canonical JSON allows only plain objects, got ${describe(value)} at ${path}`);
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(obj[k], `${path}.${k}`)}`).join(",")}}`;
    }
    default:
      throw new OtaError("OTA_MANIFEST_INVALID", `canonical JSON cannot hold ${typeof value} at ${path}`);
  }
}

function describe(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" ? `a ${name}` : "an exotic object";
}

/**
 * Parses bytes that must already be canonical: the text is parsed, re-encoded, and the result must be
 * byte-for-byte what was read. This stops parser-differential tricks (a duplicated key that one JSON
 * parser resolves to the first value and ours to the last, a BOM, odd escapes): what was signed is
 * exactly what is used.
 */
export function parseCanonical(bytes: Uint8Array, what: string): unknown {
  const text = Buffer.from(bytes).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new OtaError("OTA_MANIFEST_INVALID", `${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const again = canonicalBytes(value);
  if (!again.equals(Buffer.from(bytes))) throw new OtaError("OTA_MANIFEST_INVALID", `${what} is not in canonical form (sorted keys, no whitespace, no duplicate keys)`);
  return value;
}
