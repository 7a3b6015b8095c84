import type { RuleSet, RuleSetInput, ruleSchema, ruleSetSchema } from "./schema.js";

/**
 * The rule schemas (schema.ts, zod) on demand. zod costs ~12 MB resident in the agent process, and an
 * agent without rules (most gateways) never needs them in its main thread: the config worker thread
 * validated the config file's rules already. So the engine and the rules service reach the schemas
 * through this zod-free module: schema.ts registers itself here when it is evaluated (whoever imports
 * it, e.g. edge/rules/index.ts), and async paths that are about to validate a rule (agent start with
 * rules, POST/PUT /rules, a reload) call loadRuleSchemas() (agent/rules/load-schemas.ts) first. An empty
 * rule set needs no schema. (The dynamic import is there, not here: edge/rules imports nothing dynamically, see
 * tests/unit/rules/security.test.ts.)
 */
export interface RuleSchemas {
  ruleSchema: typeof ruleSchema;
  ruleSetSchema: typeof ruleSetSchema;
}

let loaded: RuleSchemas | null = null;

/** Called by schema.ts as it is evaluated. */
export function provideRuleSchemas(schemas: RuleSchemas): void {
  loaded = schemas;
}

/** The schemas, which must be loaded by now (a programming error otherwise, not a user's). */
export function requireRuleSchemas(): RuleSchemas {
  if (!loaded) throw new Error("the rule schemas are not loaded: await loadRuleSchemas() (agent/rules/load-schemas.js) before validating rules");
  return loaded;
}

/** Whether the schemas are loaded (without loading them). */
export function ruleSchemasLoaded(): boolean {
  return loaded !== null;
}

/**
 * The parsed form of a rule set with no rules and no virtual points, or null for any other input.
 * Equals what ruleSetSchema gives for it (both lists default to []; the object is strict).
 */
export function emptyRuleSet(input: RuleSetInput): RuleSet | null {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return null;
  for (const [key, value] of Object.entries(input)) {
    if (key !== "virtualPoints" && key !== "rules") return null;
    if (value !== undefined && !(Array.isArray(value) && value.length === 0)) return null;
  }
  return { virtualPoints: [], rules: [] };
}
