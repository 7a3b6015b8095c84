import type { ParseArgsConfig } from "node:util";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;
export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** Exit codes every command uses: scripts can tell a bad file from a bad command line. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** One CLI command: its options, its help text and what it does. */
export interface Command {
  name: string;
  summary: string;
  /** Full help shown by `edge-agent <name> --help`. */
  help: string;
  options: OptionSpec;
  /** Whether positional arguments are accepted. */
  positionals?: boolean;
  run(values: OptionValues, positionals: string[]): Promise<number>;
}

/** Options every command takes. */
export const commonOptions: OptionSpec = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
};

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
export type CliLogLevel = (typeof logLevels)[number];

export function parseLogLevel(value: unknown): CliLogLevel | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string" && (logLevels as readonly string[]).includes(value)) return value as CliLogLevel;
  throw new UsageError(`--log-level must be one of ${logLevels.join(", ")}, got ${JSON.stringify(value)}`);
}

/** A mistake on the command line: printed with a hint to --help, exit code 2. */
export class UsageError extends Error {}
