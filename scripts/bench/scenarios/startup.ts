import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { stringify } from "yaml";
import type { BenchResult, Scenario } from "../scenario.js";
import { agentLaunch } from "../../../agent/agent-launch.js";
import { makeProfile, startSimulatorProcess, stopChild, type ServerProcess } from "../modbus-tools.js";
import { ProcMeter, sleep } from "../util.js";

/**
 * Start-up of the built agent as systemd would start it after a reboot (`node dist/agent/cli/main.js
 * run --config FILE`, one simulated Modbus device polled every 100 ms, no broker): spawn to the first
 * sample committed in its SQLite outbox, watched from outside through the database file. Baseline:
 * spawn to exit of `node -e` that opens a database with better-sqlite3 and inserts one row, the floor
 * any Node.js agent storing to SQLite pays. Then the running agent's RSS and CPU over IDLE_MS against an
 * idle `node -e setInterval`.
 */

const ROUNDS = 5;
const IDLE_MS = 10_000;
const POINTS = 10;

const require = createRequire(import.meta.url);

const BASELINE = `
const Database = require("better-sqlite3");
const db = new Database(process.argv[1]);
db.pragma("journal_mode = WAL");
db.exec("CREATE TABLE IF NOT EXISTS s (point TEXT, ts INTEGER, value REAL)");
db.prepare("INSERT INTO s VALUES (?, ?, ?)").run("p", Date.now(), 1);
db.close();
`;

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once("exit", (code) => r(code)));
}

/** ms from spawn until the outbox of `db` holds a row (the first stored sample). */
async function firstStored(Database: typeof BetterSqlite3, dbFile: string, child: ChildProcess, t0: number, output: () => string): Promise<number> {
  let db: BetterSqlite3.Database | null = null;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the agent exited (${child.exitCode}) before storing a sample:\n${output()}`);
      if (performance.now() - t0 > 30_000) throw new Error(`no stored sample within 30 s:\n${output()}`);
      try {
        db ??= existsSync(dbFile) ? new Database(dbFile, { readonly: true, fileMustExist: true }) : null;
        const row = db?.prepare("SELECT count(*) AS n FROM outbox").get() as { n: number } | undefined;
        if (row && row.n > 0) return performance.now() - t0;
      } catch {
        // The agent is still creating the file or its tables.
      }
      await sleep(2);
    }
  } finally {
    db?.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export const startupScenario: Scenario = {
  name: "startup",
  description: `Spawn of the built agent (run --config, 1 Modbus device x ${POINTS} points, no broker) to its first sample committed in SQLite, vs node -e opening better-sqlite3 and inserting one row; then the agent's RSS and CPU over ${IDLE_MS / 1000} s vs an idle node process.`,
  async run(ctx): Promise<BenchResult[]> {
    if (process.platform !== "linux") throw new Error("startup reads /proc and runs on Linux only");
    const cli = join(ctx.root, "dist", "agent", "cli", "main.js");
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
    const Database = require("better-sqlite3") as typeof BetterSqlite3;
    const rounds = Math.max(3, Math.round(ROUNDS * Math.min(1, ctx.scale * 2)));
    let sim: ServerProcess | null = null;
    let agent: ChildProcess | null = null;
    let idle: ChildProcess | null = null;
    try {
      sim = await startSimulatorProcess(ctx, makeProfile(1, POINTS));
      const agentMs: number[] = [];
      const baseMs: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const dir = await ctx.tmpDir("startup-");
        const config = join(dir, "agent.yaml");
        const devices = [{ id: "plc", protocol: "modbus-tcp", host: "127.0.0.1", port: sim.port, unitId: 1, pollMs: 100, points: Array.from({ length: POINTS }, (_, r) => ({ id: `plc.r${r}`, register: r, type: "uint16" })) }];
        await writeFile(config, stringify({ version: 1, device: { id: "bench-startup" }, dataDir: dir, log: { level: "warn" }, api: { enabled: false }, store: { commitDelayMs: 0 }, devices }));

        const b0 = performance.now();
        const base = spawn(process.execPath, ["-e", BASELINE, join(dir, "baseline.db")], { cwd: ctx.root, stdio: "ignore" });
        if ((await exited(base)) !== 0) throw new Error("the baseline (node -e + better-sqlite3 insert) failed");
        baseMs.push(performance.now() - b0);

        let out = "";
        const t0 = performance.now();
        const launch = agentLaunch(cli, ["--config", config]);
        const child = spawn(launch.command, launch.args, { cwd: dir, env: launch.env, stdio: ["ignore", "pipe", "pipe"] });
        agent = child;
        child.stdout?.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
        child.stderr?.on("data", (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
        agentMs.push(await firstStored(Database, join(dir, "edge.db"), child, t0, () => out));
        ctx.log(`round ${i + 1}/${rounds}: agent first stored sample ${agentMs.at(-1)?.toFixed(0)} ms, baseline ${baseMs.at(-1)?.toFixed(0)} ms`);

        if (i < rounds - 1) {
          await stopChild(child, "SIGTERM");
          agent = null;
        }
      }

      // The last agent keeps running: measure it against an idle node process over the same window.
      const running = agent;
      if (!running?.pid) throw new Error("no agent running for the idle measurement");
      idle = spawn(process.execPath, ["-e", "setInterval(()=>{},1000)"], { stdio: "ignore" });
      if (idle.pid === undefined) throw new Error("could not spawn the idle baseline");
      await sleep(1000);
      const a = new ProcMeter(running.pid);
      const b = new ProcMeter(idle.pid);
      const end = performance.now() + Math.max(3000, IDLE_MS * Math.min(1, ctx.scale * 2));
      for (;;) {
        if (!a.sample()) throw new Error("the agent exited during the idle measurement");
        b.sample();
        if (performance.now() >= end) break;
        await sleep(250);
      }
      const ar = a.result();
      const br = b.result();
      ctx.log(`agent RSS max ${ar.rssMaxMB.toFixed(1)} MB, CPU ${ar.cpuPercent.toFixed(2)} %; idle node ${br.rssMaxMB.toFixed(1)} MB, ${br.cpuPercent.toFixed(2)} %`);
      const details = { rounds, agentMs: agentMs.map(Math.round), baselineMs: baseMs.map(Math.round), pollMs: 100, points: POINTS };
      return [
        { metric: "first-sample", unit: "ms", agent: median(agentMs), baseline: median(baseMs), higherIsBetter: false, baselineLabel: "node -e + better-sqlite3 open and one insert (median)", details },
        { metric: "rss.max", unit: "MB", agent: ar.rssMaxMB, baseline: br.rssMaxMB, higherIsBetter: false, baselineLabel: "idle node -e setInterval, same window", details: { windowS: Math.round(ar.windowS * 10) / 10 } },
        { metric: "cpu", unit: "% of one core", agent: ar.cpuPercent, baseline: br.cpuPercent, higherIsBetter: false, baselineLabel: "idle node -e setInterval, same window" },
      ];
    } finally {
      if (agent) await stopChild(agent, "SIGTERM");
      if (idle) await stopChild(idle, "SIGKILL");
      if (sim) await sim.stop();
    }
  },
};

export default startupScenario;
