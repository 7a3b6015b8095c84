// engine-core.js, not index.js: the index brings the rule schemas and zod (~12 MB resident).
import { RuleSetError } from "../../edge/rules/engine-core.js";
import { ConfigError } from "../config/errors.js";
import type { ConfigRules } from "./service.js";

/**
 * The rules of a config file, for a hot reload: the whole file is validated as at start (rules
 * compiled against its points), and every problem comes back as a RuleSetError, so the caller
 * refuses the reload as a whole and the running rules stay. The loader (YAML parser, full schema) is
 * imported on the first reload: at start the config worker validated the file, and an agent that is
 * never reloaded keeps neither in memory.
 */
export async function readConfigRules(file: string): Promise<ConfigRules> {
  try {
    const { loadConfig } = await import("../config/load.js");
    const config = loadConfig(file);
    return { virtualPoints: config.virtualPoints, rules: config.rules };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new RuleSetError(err.problems.map((p) => `${p.path ? `${p.path}: ` : ""}${p.message}${p.line ? ` (${file} line ${p.line})` : ""}`));
  }
}
