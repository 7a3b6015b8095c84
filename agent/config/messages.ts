import type { z } from "zod";
import { describeInput } from "../../edge/schema-kit.js";

type RawIssue = z.core.$ZodRawIssue;

/**
 * Plain-language messages for zod's generic issues: always what was expected and what the file has
 * (`expected number, got "abc"`). Fields with their own message (intRange, identifier) keep theirs.
 */
export function configIssueMessage(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case "invalid_type":
      return iss.input === undefined ? `required field is missing (expected ${iss.expected})` : `expected ${iss.expected}, got ${describeInput(iss.input)}`;
    case "invalid_value":
      return `expected ${iss.values.map((v) => JSON.stringify(v)).join(" or ")}, got ${describeInput(iss.input)}`;
    case "unrecognized_keys":
      return `unknown field${iss.keys.length > 1 ? "s" : ""} ${iss.keys.map((k) => `"${k}"`).join(", ")} (check the spelling against the schema)`;
    case "too_small":
      if (iss.origin === "array") return `expected at least ${iss.minimum} item(s), got ${Array.isArray(iss.input) ? iss.input.length : 0}`;
      if (iss.origin === "string") return `expected a non-empty string of at least ${iss.minimum} character(s)`;
      return `expected ${iss.inclusive ? ">=" : ">"} ${iss.minimum}, got ${describeInput(iss.input)}`;
    case "too_big":
      return `expected ${iss.inclusive ? "<=" : "<"} ${iss.maximum}, got ${describeInput(iss.input)}`;
    case "invalid_union":
      if ("discriminator" in iss && typeof iss.discriminator === "string" && "options" in iss && Array.isArray(iss.options)) {
        const given = iss.input && typeof iss.input === "object" ? (iss.input as Record<string, unknown>)[iss.discriminator] : undefined;
        return `expected ${iss.discriminator} ${iss.options.map((o: unknown) => JSON.stringify(o)).join(" or ")}, got ${describeInput(given)}`;
      }
      return undefined;
    default:
      return undefined;
  }
}
