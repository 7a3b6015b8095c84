import { RuleSetError } from "../../edge/rules/index.js";
import { ConfigError } from "../config/errors.js";
import { loadConfig } from "../config/load.js";
import type { ConfigRules } from "./service.js";

/**
 * The rules of a config file, for a hot reload: the whole file is validated as at start (rules
 * compiled against its points), and every problem comes back as a RuleSetError, so the caller
 * refuses the reload as a whole and the running rules stay.
 */
export function readConfigRules(file: string): ConfigRules {
  try {
    const config = loadConfig(file);
    return { virtualPoints: config.virtualPoints, rules: config.rules };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new RuleSetError(err.problems.map((p) => `${p.path ? `${p.path}: ` : ""}${p.message}${p.line ? ` (${file} line ${p.line})` : ""}`));
  }
}
