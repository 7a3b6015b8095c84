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
