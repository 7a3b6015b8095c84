/**
 * The rule engine with its schema loaded: RuleEngine.load() validates any rule set. The class lives in
 * engine-core.ts, which imports no zod (~12 MB resident): the agent's rules service uses it directly
 * and loads the schema only when there is a rule to validate (see schema-loader.ts).
 */
import "./schema.js";
export * from "./engine-core.js";
