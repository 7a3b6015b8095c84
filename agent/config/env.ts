import { isScalar, parse, visit, type Document, type LineCounter } from "yaml";
import type { ConfigProblem } from "./errors.js";

const REF = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * `${NAME}` and `${NAME:-default}` in a config value are replaced by environment variables, so
 * secrets (broker passwords) and per-host values (ports) stay out of the file. Only values are
 * expanded, never comments or keys. An unquoted value that is a single reference takes the type of
 * what it expands to (`port: ${PORT:-1883}` is a number). `$${` writes a literal `${`. An unset
 * variable without a default is a problem naming its line.
 */
export function expandEnv(doc: Document, env: NodeJS.ProcessEnv, counter: LineCounter): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  visit(doc, {
    Scalar(key, node) {
      if (key === "key" || typeof node.value !== "string" || !node.value.includes("${")) return;
      const source = node.value;
      const expanded = source.replace(REF, (match, escape: string, name: string, fallback: string | undefined) => {
        if (escape) return match.slice(1);
        const value = env[name];
        if (value !== undefined && value !== "") return value;
        if (fallback !== undefined) return fallback;
        problems.push({
          path: "",
          message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
          line: node.range ? counter.linePos(node.range[0]).line : undefined,
        });
        return match;
      });
      const whole = /^\$\{[^}]*\}$/.test(source.trim());
      if (whole && node.type === "PLAIN") {
        const typed: unknown = parse(expanded);
        node.value = isScalar(typed) ? typed.value : typed === null ? expanded : typed;
      } else {
        node.value = expanded;
      }
    },
  });
  return problems;
}
