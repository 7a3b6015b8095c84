import type { ConfigProblem } from "./errors.js";

/**
 * `${NAME}` and `${NAME:-default}` in a config file are replaced by environment variables before the
 * file is parsed, so secrets (broker passwords) and per-host values (ports) stay out of the file.
 * `$${` writes a literal `${`. An unset variable without a default is a problem that names its line.
 */
export function expandEnv(
  text: string,
  env: NodeJS.ProcessEnv,
): { text: string; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const out = text.replace(/\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (match, escape: string, name: string, fallback: string | undefined, offset: number) => {
    if (escape) return match.slice(1);
    const value = env[name];
    if (value !== undefined && value !== "") return value;
    if (fallback !== undefined) return fallback;
    const line = text.slice(0, offset).split("\n").length;
    problems.push({ path: "", message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)`, line });
    return match;
  });
  return { text: out, problems };
}
