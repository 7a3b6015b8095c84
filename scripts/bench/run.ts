/**
 * `npm run bench [-- NAME...]`: runs the benchmark scenarios (all by default), prints a table of
 * agent vs baseline figures and writes the results to bench/results/<timestamp>.json and latest.json.
 *
 *   npm run bench                      every scenario
 *   npm run bench -- pipeline          only the named ones
 *   npm run bench -- --list            list the scenarios
 *   npm run bench -- --scale 0.1       a tenth of the workload (a quick smoke run; figures are noisier)
 *
 * Environment: EDGE_BENCH_BROKER=mosquitto|aedes forces a broker, MOSQUITTO=/path/to/mosquitto,
 * EDGE_BENCH_ROUNDS=N rounds per throughput scenario (default 3), EDGE_BENCH_SCALE like --scale.
 * Exit code: 0 when every scenario ran and met its targets, 1 otherwise, 2 on a usage error.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { startBenchBroker, type BenchBroker } from "./broker.js";
import type { BenchContext, BenchResult, RecordedResult, Scenario } from "./scenario.js";
import { scenarios } from "./scenarios/index.js";
import { fmt } from "./util.js";

interface ScenarioRecord {
  name: string;
  description: string;
  ok: boolean;
  error?: string;
  durationS: number;
  results: RecordedResult[];
}

const err = (line: string) => process.stderr.write(line + "\n");

/** The repository root: the nearest folder above this file with edge-agent's package.json. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "edge-agent") return dir;
      } catch {
        // keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the edge-agent repository root above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

function gitInfo(root: string): { commit: string | null; dirty: boolean | null } {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() !== "";
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

function usage(): string {
  const names = scenarios.map((s) => `  ${s.name.padEnd(12)} ${s.description}`).join("\n");
  return `Usage: npm run bench [-- [--scale X] [--list] [NAME...]]\n\nScenarios:\n${names}\n`;
}

function parseArgs(argv: string[]): { names: string[]; scale: number; list: boolean; help: boolean } {
  const names: string[] = [];
  let scale = Number(process.env.EDGE_BENCH_SCALE ?? 1);
  let list = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--list") list = true;
    else if (a === "-h" || a === "--help") help = true;
    else if (a === "--scale" || a.startsWith("--scale=")) {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      scale = Number(v);
    } else if (a.startsWith("-")) throw new UsageError(`unknown option ${a}`);
    else names.push(a);
  }
  if (!Number.isFinite(scale) || scale <= 0 || scale > 100) throw new UsageError(`--scale must be a number in (0, 100], got ${scale}`);
  return { names, scale, list, help };
}

class UsageError extends Error {}

function ratioOf(r: BenchResult): number {
  return r.baseline === 0 ? (r.agent === 0 ? 1 : Number.NaN) : r.agent / r.baseline;
}

function record(scenario: string, r: BenchResult): RecordedResult {
  const ratio = ratioOf(r);
  const out: RecordedResult = { scenario, ...r, ratio };
  if (r.target) {
    const v = r.target.on === "ratio" ? ratio : r.agent;
    out.targetMet = Number.isFinite(v) && (r.target.min === undefined || v >= r.target.min) && (r.target.max === undefined || v <= r.target.max);
  }
  return out;
}

function targetText(r: RecordedResult): string {
  if (!r.target) return "";
  const t = r.target;
  const bounds = [t.min !== undefined ? `>= ${t.min}` : "", t.max !== undefined ? `<= ${t.max}` : ""].filter(Boolean).join(" and ");
  return `${t.on} ${bounds} ${r.targetMet ? "ok" : "MISSED"}`;
}

function table(records: ScenarioRecord[]): string {
  const header = ["scenario", "metric", "unit", "agent", "baseline", "ratio", "target"];
  const rows: string[][] = [];
  for (const s of records) {
    if (!s.ok) {
      rows.push([s.name, "FAILED", "", "", "", "", (s.error ?? "").split("\n")[0]?.slice(0, 80) ?? ""]);
      continue;
    }
    for (const r of s.results) {
      const ratio = Number.isFinite(r.ratio) ? `${r.ratio.toFixed(r.ratio >= 100 ? 0 : 2)}x` : "n/a";
      rows.push([s.name, r.metric, r.unit, fmt(r.agent), fmt(r.baseline), ratio, targetText(r)]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const right = new Set([3, 4, 5]);
  const line = (cells: string[]) =>
    cells.map((c, i) => (right.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      err(`bench: ${e.message}\n\n${usage()}`);
      return 2;
    }
    throw e;
  }
  if (args.help || args.list) {
    process.stdout.write(usage());
    return 0;
  }
  const unknown = args.names.filter((n) => !scenarios.some((s) => s.name === n));
  if (unknown.length > 0) {
    err(`bench: unknown scenario ${unknown.join(", ")}\n\n${usage()}`);
    return 2;
  }
  const selected: Scenario[] = args.names.length === 0 ? [...scenarios] : scenarios.filter((s) => args.names.includes(s.name));

  const root = findRoot();
  const tmpRoot = await mkdtemp(join(tmpdir(), "edge-bench-"));
  let broker: BenchBroker | null = null;
  let brokerStarting: Promise<BenchBroker> | null = null;
  let current = "bench";
  const cleanup = async () => {
    const b = broker ?? (brokerStarting ? await brokerStarting.catch(() => null) : null);
    await b?.stop().catch(() => undefined);
    await rm(tmpRoot, { recursive: true, force: true }).catch(() => undefined);
  };
  process.once("SIGINT", () => {
    err("bench: interrupted; cleaning up");
    void cleanup().finally(() => process.exit(130));
  });

  let tmpCount = 0;
  const ctx: BenchContext = {
    root,
    scale: args.scale,
    log: (message) => err(`[${current}] ${message}`),
    tmpDir: async (prefix) => {
      const dir = join(tmpRoot, `${prefix}${++tmpCount}`);
      await mkdir(dir, { recursive: true });
      return dir;
    },
    broker: () => {
      brokerStarting ??= startBenchBroker({ log: (l) => err(`[${current}] ${l}`) }).then((b) => (broker = b));
      return brokerStarting;
    },
  };

  const startedAt = new Date();
  const t0 = performance.now();
  const records: ScenarioRecord[] = [];
  err(`bench: ${selected.map((s) => s.name).join(", ")}${args.scale !== 1 ? ` (scale ${args.scale})` : ""}; temp files in ${tmpRoot}`);
  try {
    for (const s of selected) {
      current = s.name;
      ctx.log(`start: ${s.description}`);
      const st = performance.now();
      try {
        const results = await s.run(ctx);
        const durationS = (performance.now() - st) / 1000;
        records.push({ name: s.name, description: s.description, ok: true, durationS, results: results.map((r) => record(s.name, r)) });
        ctx.log(`done in ${durationS.toFixed(1)} s`);
      } catch (e) {
        const durationS = (performance.now() - st) / 1000;
        const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
        records.push({ name: s.name, description: s.description, ok: false, error: message, durationS, results: [] });
        ctx.log(`FAILED after ${durationS.toFixed(1)} s: ${message}`);
      }
    }
  } finally {
    current = "bench";
    await cleanup();
  }
  const durationS = (performance.now() - t0) / 1000;

  const cpuList = cpus();
  const git = gitInfo(root);
  const report = {
    startedAt: startedAt.toISOString(),
    durationS: Math.round(durationS * 10) / 10,
    scale: args.scale,
    git,
    host: {
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model ?? "unknown",
      memoryMB: Math.round(totalmem() / (1024 * 1024)),
    },
    broker: broker ? { kind: (broker as BenchBroker).kind, version: (broker as BenchBroker).version } : null,
    ok: records.every((r) => r.ok) && records.every((r) => r.results.every((x) => x.targetMet !== false)),
    scenarios: records,
    results: records.flatMap((r) => r.results.map(({ details: _details, ...flat }) => flat)),
  };

  const dir = join(root, "bench", "results");
  await mkdir(dir, { recursive: true });
  const stamp = startedAt.toISOString().replaceAll(":", "-");
  const file = join(dir, `${stamp}.json`);
  const text = JSON.stringify(report, null, 2) + "\n";
  await writeFile(file, text);
  await writeFile(join(dir, "latest.json"), text);

  const brokerNote = report.broker ? `broker: ${report.broker.kind} (${report.broker.version})` : "broker: none used";
  process.stdout.write(`\n${table(records)}\n\n`);
  process.stdout.write(`ratio = agent / baseline. ${brokerNote}. ${report.host.cpus} x ${report.host.cpuModel}, node ${report.host.node}.\n`);
  process.stdout.write(`Total ${durationS.toFixed(1)} s. Results: ${relative(process.cwd(), file) || file} (and latest.json)\n`);
  const failed = records.filter((r) => !r.ok).map((r) => r.name);
  const missed = records.flatMap((r) => r.results).filter((r) => r.targetMet === false);
  if (failed.length > 0) process.stdout.write(`FAILED: ${failed.join(", ")}\n`);
  if (missed.length > 0) process.stdout.write(`Targets missed: ${missed.map((r) => `${r.scenario}/${r.metric}`).join(", ")}\n`);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    err(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
