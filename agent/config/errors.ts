import { EdgeError } from "../../edge/errors.js";

export interface ConfigProblem {
  /** Where in the file, e.g. `devices[1].points[3].register` (empty for the whole file). */
  path: string;
  message: string;
  /** 1-based line in the file, when it could be located. */
  line?: number;
}

/** An invalid configuration: every problem found, each naming its place in the file. */
export class ConfigError extends EdgeError {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super("CONFIG_INVALID", formatProblems(file, problems));
    this.name = "ConfigError";
  }
}

export function formatProblems(file: string, problems: readonly ConfigProblem[]): string {
  const lines = problems.map((p) => {
    const where = p.line ? ` (${file} line ${p.line})` : "";
    return p.path ? `  ${p.path}: ${p.message}${where}` : `  ${p.message}${where}`;
  });
  const n = problems.length;
  return `${file} is not a valid configuration (${n} problem${n === 1 ? "" : "s"}):\n${lines.join("\n")}`;
}

/** `["devices", 1, "points", 3, "register"]` -> `devices[1].points[3].register`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
