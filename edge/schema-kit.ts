import { z } from "zod";

/**
 * Small zod builders shared by every config schema, so that the same kind of field gives the same
 * error everywhere (`expected integer 0..65535, got -4`) and documents itself in the JSON Schema.
 */

function show(input: unknown): string {
  if (input === undefined) return "nothing";
  if (typeof input === "string") return JSON.stringify(input);
  if (typeof input === "number" || typeof input === "boolean" || input === null) return String(input);
  if (Array.isArray(input)) return "a list";
  return "an object";
}

/** Describes a config value for an error message (`"abc"`, `-4`, `a list`, `nothing`). */
export const describeInput = show;

/** The message for a value that is missing or not what `what` describes. */
function expected(what: string) {
  return (iss: { input?: unknown }) =>
    iss.input === undefined ? `required field is missing (expected ${what})` : `expected ${what}, got ${show(iss.input)}`;
}

/** An integer in [min, max] whose every failure reads `expected integer min..max, got X`. */
export function intRange(min: number, max: number) {
  const error = expected(`integer ${min}..${max}`);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** A positive duration in milliseconds, bounded so a typo (seconds vs ms) cannot stall a loop for days. */
export function durationMs(min: number, max: number) {
  const error = expected(`a duration in ms ${min}..${max}`);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** An identifier users type into configs, topics and URLs: letters, digits and `._-`, not empty. */
export function identifier(what: string) {
  return z
    .string({ error: expected(`${what} (a string)`) })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
      error: (iss) =>
        `expected ${what}: 1-128 characters from letters, digits, '.', '_' and '-', starting with a letter or digit, got ${show(iss.input)}`,
    });
}

const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/**
 * A size in bytes, as an integer or as text with a unit ("512MB", "2 GiB"); 0 means no bound. Always
 * parses to whole bytes within [0, max].
 */
export function byteSize(max: number) {
  const what = `a size in bytes 0..${max} (a number, or text such as "512MB" or "2GiB")`;
  return z.union([z.number(), z.string()], { error: expected(what) }).transform((input, ctx) => {
    let bytes = typeof input === "number" ? input : NaN;
    if (typeof input === "string") {
      const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*$/i.exec(input);
      if (m) bytes = Math.round(Number(m[1]) * (BYTE_UNITS[(m[2] ?? "b").toLowerCase()] ?? NaN));
    }
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > max) {
      ctx.addIssue({ code: "custom", message: `expected ${what}, got ${show(input)}` });
      return z.NEVER;
    }
    return bytes;
  });
}
