import { UsageError } from "../command.js";

/** "60s", "500ms", "2m", "1h" or a bare number of seconds, in ms. */
export function parseDuration(value: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new UsageError(`--${option} must be a duration like 60s, 500ms, 2m, got "${value}"`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const ms = unit === "ms" ? n : unit === "s" ? n * 1000 : unit === "m" ? n * 60_000 : n * 3_600_000;
  if (!(ms > 0) || !Number.isSafeInteger(Math.round(ms))) throw new UsageError(`--${option} must be more than 0, got "${value}"`);
  return Math.round(ms);
}
