import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { parse as parseYaml } from "yaml";
import { HistoryTable } from "../../edge/store/history.js";
import { dryRun, ruleSetSchema, RuleSetError, type FiredAction, type RuleSetInput } from "../../edge/rules/index.js";
import { errorMessage } from "../../edge/errors.js";
import { loadConfig } from "../config/load.js";
import { rulePointsOf } from "../rules/points.js";
import { EXIT, UsageError, type OptionValues } from "./command.js";
import { CliFailure } from "./api-client.js";
import { parseTimeArg } from "./time-arg.js";

/**
 * `edge-agent rules test`: replays the local history between --from and --to through a rule set on a
 * simulated clock (edge/rules dry run) and prints what would have fired. The database is opened
 * read-only (WAL lets it sit beside the running agent); nothing is written or sent.
 */
export async function rulesTest(values: OptionValues): Promise<number> {
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const file = str("config");
  if (!file) throw new UsageError("rules test needs --config FILE (its points, and its rules unless --rules FILE)");
  const fromText = str("from");
  if (!fromText) throw new UsageError("rules test needs --from TIME (ISO 8601, now, or relative like -2h)");
  const now = Date.now();
  const from = parseTimeArg(fromText, "--from", now);
  const to = parseTimeArg(str("to") ?? "now", "--to", now);
  if (to < from) throw new UsageError(`--to (${new Date(to).toISOString()}) is before --from (${new Date(from).toISOString()})`);

  const config = loadConfig(file);
  const rulesFile = str("rules");
  const ruleSet: RuleSetInput = rulesFile ? readRuleSet(rulesFile) : { virtualPoints: config.virtualPoints, rules: config.rules };
  const dbPath = resolve(str("db") ?? config.store.path ?? join(config.dataDir, "edge.db"));
  if (!existsSync(dbPath)) throw new CliFailure(`no database at ${dbPath} (has the agent run with this config? --db FILE names another)`);

  let db: Database.Database;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new CliFailure(`cannot open ${dbPath} read-only: ${errorMessage(err)}`);
  }
  try {
    const history = new HistoryTable(db, { enabled: true, maxAgeMs: 0, maxBytes: 0 });
    const samples = [...history.samples(from, to)];
    let result;
    try {
      result = dryRun(ruleSet, samples, rulePointsOf(config.devices));
    } catch (err) {
      if (err instanceof RuleSetError) throw new CliFailure(err.message);
      throw err;
    }
    if (values.json === true) {
      process.stdout.write(JSON.stringify(result, null, 2) + "\n");
      return EXIT.ok;
    }
    const out: string[] = [];
    for (const f of result.fired) out.push(firedLine(f));
    for (const e of result.errors) out.push(`${new Date(e.ts).toISOString()}  ${e.rule}  action ${e.action} would fail: ${e.message}`);
    const byAction = new Map<string, number>();
    for (const f of result.fired) byAction.set(f.action, (byAction.get(f.action) ?? 0) + 1);
    const kinds = [...byAction].map(([a, n]) => `${n} ${a}`).join(", ");
    const window = `${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`;
    out.push(
      `summary: ${result.samples} samples replayed (${window}), ${result.evaluations} evaluations, ` +
        `${result.fired.length} action(s) would have fired${kinds ? ` (${kinds})` : ""}, ${result.alarms.filter((a) => a.change === "raised").length} alarm(s) raised, ` +
        `${result.errors.length} failed or skipped${result.truncated ? "; stopped early at the action limit" : ""}`,
    );
    if (result.samples === 0) out.push(`note: the history has no samples in this window (${dbPath})`);
    process.stdout.write(out.join("\n") + "\n");
    return EXIT.ok;
  } finally {
    db.close();
  }
}

function readRuleSet(file: string): RuleSetInput {
  let data: unknown;
  try {
    data = parseYaml(readFileSync(file, "utf8"));
  } catch (err) {
    throw new CliFailure(`cannot read the rules file ${file}: ${errorMessage(err)}`);
  }
  // A whole config file works too: only its rules and virtual points are taken.
  const picked = typeof data === "object" && data !== null ? { virtualPoints: (data as Record<string, unknown>).virtualPoints, rules: (data as Record<string, unknown>).rules } : data;
  const parsed = ruleSetSchema.safeParse(picked);
  if (!parsed.success) throw new CliFailure(`${file}: not a rule set:\n  ${parsed.error.issues.map((i) => `${i.path.join(".") || "file"}: ${i.message}`).join("\n  ")}`);
  return parsed.data;
}

function firedLine(f: FiredAction): string {
  const values = Object.entries(f.values)
    .map(([k, v]) => `${k}=${v === null ? "?" : String(v)}`)
    .join(" ");
  let what: string;
  if (f.action === "write" || f.action === "set") what = `${f.action} ${f.point} = ${String(f.value)}${f.clampedFrom !== undefined ? ` (clamped from ${f.clampedFrom})` : ""}`;
  else if (f.action === "alarm") what = `alarm ${f.trigger === "clear" ? "cleared" : "raised"} ${f.severity ?? ""} "${f.message ?? ""}"`;
  else what = `event ${f.severity ?? ""}${f.message ? ` "${f.message}"` : ""}`;
  return `${new Date(f.ts).toISOString()}  ${f.rule}  ${what}  [${values}]`;
}
