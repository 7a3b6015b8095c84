import { readFileSync } from "node:fs";
import { EdgeError } from "../../../edge/errors.js";
import { OtaError } from "../../ota/errors.js";
import { EXIT, UsageError, type OptionValues } from "../command.js";

/** Option helpers shared by the keys and release commands. */

export function str(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const last = Array.isArray(v) ? v[v.length - 1] : v;
  if (typeof last !== "string" || last === "") throw new UsageError(`--${name} needs a value`);
  return last;
}

export function required(values: OptionValues, name: string, what: string): string {
  const v = str(values, name);
  if (v === undefined) throw new UsageError(`${what} needs --${name}`);
  return v;
}

/** A repeatable, comma-separable option: --key a,b --key c -> [a, b, c]. */
export function list(values: OptionValues, name: string): string[] {
  const v = values[name];
  if (v === undefined) return [];
  const all = Array.isArray(v) ? v : [v];
  return all.flatMap((x) => (typeof x === "string" ? x.split(",") : [])).map((s) => s.trim()).filter((s) => s !== "");
}

export function positiveInt(values: OptionValues, name: string): number | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
  return Number(v);
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/** "90d", "12h", "2w", "1y" from now, or an ISO date-time. */
export function parseExpiry(values: OptionValues, name: string, fallback: string, now: Date): Date {
  const v = str(values, name) ?? fallback;
  const rel = /^(\d+)([mhdwy])$/.exec(v);
  if (rel) return new Date(now.getTime() + Number(rel[1]) * (UNIT_MS[rel[2] ?? "d"] ?? 0));
  if (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v))) {
    const d = new Date(v);
    if (d.getTime() <= now.getTime()) throw new UsageError(`--${name} ${v} is already in the past`);
    return d;
  }
  throw new UsageError(`--${name} must be a duration like 90d, 12h, 2w, 1y or an ISO date, got "${v}"`);
}

/** Runs a subcommand: an EdgeError (a refused file, a failed check) is exit 1 with its code and message. */
export async function failOnEdgeError(label: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof EdgeError) {
      process.stderr.write(`edge-agent ${label}: ${err.code}: ${err.message}\n`);
      return EXIT.failed;
    }
    throw err;
  }
}

export const print = (line: string): void => {
  process.stdout.write(line + "\n");
};

/** Reads a file the user named; a missing one is a clear exit-1 error, not a stack trace. */
export function readInput(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OtaError("OTA_NOT_FOUND", `cannot read ${what} ${file}: ${code ?? (err as Error).message}`, { cause: err });
  }
}
