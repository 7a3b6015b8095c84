import { requireRuleSchemas, ruleSchemasLoaded, type RuleSchemas } from "../../edge/rules/schema-loader.js";

/**
 * Imports the rule schemas (edge/rules/schema.ts, and so zod, ~12 MB resident) if nothing has yet:
 * called before validating a rule in the agent's main thread, which otherwise keeps zod out. See
 * edge/rules/schema-loader.ts.
 */
export async function loadRuleSchemas(): Promise<RuleSchemas> {
  if (!ruleSchemasLoaded()) await import("../../edge/rules/schema.js");
  return requireRuleSchemas();
}
