import { readFileSync } from "node:fs";
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import { configSchema, type AgentConfig } from "./schema.js";
import { ConfigError, formatPath, type ConfigProblem } from "./errors.js";
import { configIssueMessage } from "./messages.js";
import { expandEnv } from "./env.js";
import { errorMessage } from "../../edge/errors.js";
import { checkRules } from "../rules/check.js";

/**
 * Reads and validates a configuration file (YAML, or JSON which is valid YAML). Throws a ConfigError
 * listing every problem with its path and line, before anything is opened or started.
 */
export function loadConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [{ path: "", message: `cannot read the file: ${errorMessage(err)}` }]);
  }
  return parseConfig(text, file);
}

export function parseConfig(raw: string, file = "config", env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(raw, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: "",
        message: `not valid YAML/JSON: ${e.message.split("\n")[0]}`,
        line: e.linePos?.[0]?.line,
      })),
    );
  }
  const envProblems = expandEnv(doc, env, lineCounter);
  if (envProblems.length > 0) throw new ConfigError(file, envProblems);
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) {
    throw new ConfigError(file, [{ path: "", message: "the file is empty" }]);
  }
  const result = configSchema.safeParse(data, { reportInput: true, error: configIssueMessage });
  if (result.success) {
    // The rules compile against the points only once the file is valid: only then are both known.
    const ruleProblems = checkRules(result.data);
    if (ruleProblems.length === 0) return result.data;
    throw new ConfigError(
      file,
      ruleProblems.map((p) => ({ path: formatPath(p.path), message: p.message, line: p.path.length ? lineOf(doc, lineCounter, p.path) : undefined })),
    );
  }
  const problems: ConfigProblem[] = result.error.issues.map((iss) => {
    // An unknown key is best shown at the key itself.
    const path = iss.code === "unrecognized_keys" && iss.keys.length === 1 ? [...iss.path, iss.keys[0] as string] : iss.path;
    return { path: formatPath(path), message: iss.message, line: lineOf(doc, lineCounter, path) };
  });
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  throw new ConfigError(file, problems);
}

/** The line of the deepest node on the path that exists in the file (a missing field points at its parent). */
function lineOf(doc: Document, counter: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}
