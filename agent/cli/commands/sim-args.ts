import { UsageError, type OptionValues } from "../command.js";

/** Option parsing shared by the `sim` targets. */

export function port(values: OptionValues, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || n > 65535) throw new UsageError(`--${name} must be a port 0..65535 (0 = any free port), got ${JSON.stringify(raw)}`);
  return n;
}

export const print = (line: string) => process.stdout.write(line + "\n");

export function positiveInt(values: OptionValues, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}
