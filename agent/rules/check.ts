import { RuleEngine, RuleSetError, type RuleConfig, type VirtualPointConfig } from "../../edge/rules/index.js";
import type { PointBaseConfig } from "../../edge/drivers/point-schema.js";
import { rulePointsOf } from "./points.js";

export interface RuleProblem {
  /** Path in the config file, e.g. ["rules", 2, "when"]; empty when it cannot be placed. */
  path: Array<string | number>;
  /** The engine's text: field, column and reason. */
  message: string;
}

const RULE_PROBLEM = /^rule "(.+?)": ([A-Za-z]+(?:\[\d+\])?)(?:\.([A-Za-z]+))?: (.*)$/s;

/**
 * Compiles the config's rules against its device points, as the running agent would, and returns
 * every problem placed at its rule in the file. Schema checks already passed: this catches unknown
 * points, expression errors (with their column) and writes to points that are not writable.
 */
export function checkRules(config: {
  devices: ReadonlyArray<{ points: readonly PointBaseConfig[] }>;
  virtualPoints: VirtualPointConfig[];
  rules: RuleConfig[];
}): RuleProblem[] {
  const engine = new RuleEngine({ points: rulePointsOf(config.devices) });
  try {
    engine.load({ virtualPoints: config.virtualPoints, rules: config.rules });
    return [];
  } catch (err) {
    if (!(err instanceof RuleSetError)) throw err;
    const index = new Map(config.rules.map((r, i) => [r.id, i]));
    return err.problems.map((text) => placeProblem(text, index));
  }
}

function placeProblem(text: string, index: ReadonlyMap<string, number>): RuleProblem {
  const m = RULE_PROBLEM.exec(text);
  const i = m ? index.get(m[1] as string) : undefined;
  if (!m || i === undefined) return { path: [], message: text };
  const path: Array<string | number> = ["rules", i];
  const field = m[2] as string;
  const action = /^actions\[(\d+)\]$/.exec(field);
  if (action) path.push("actions", Number(action[1]));
  else path.push(field);
  if (m[3]) path.push(m[3]);
  // The message keeps the rule id: in a long file it is what the engineer searches for.
  return { path, message: `rule "${m[1]}": ${m[4]}` };
}
