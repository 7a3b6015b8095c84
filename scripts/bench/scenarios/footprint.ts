import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { AgentStatus } from "../../../agent/runtime/status.js";
import type { BenchContext, BenchResult, Scenario } from "../scenario.js";
import { ProcMeter, childrenOf, sleep, waitUntil } from "../util.js";

/**
 * The agent's memory and CPU in the simulator mode (`edge-agent sim`: a simulated PLC polled every
 * second, the embedded broker, the agent as a child process), against an idle Node.js process measured
 * over the same window: the ratio is what the agent costs above the runtime's own floor.
 */

const SETTLE_MS = 2000;
const WINDOW_MS = 10_000;
const SAMPLE_EVERY_MS = 250;

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const footprintScenario: Scenario = {
  name: "footprint",
  description:
    "RSS and CPU of the agent process in the simulator mode (edge-agent sim) over a 10 s window, vs an idle `node -e setInterval` process over the same window.",
  async run(ctx): Promise<BenchResult[]> {
    if (process.platform !== "linux") throw new Error("footprint reads /proc and runs on Linux only");
    const cli = join(ctx.root, "dist", "agent", "cli", "main.js");
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
    const dataDir = await ctx.tmpDir("footprint-");

    const idle = spawn(process.execPath, ["-e", "setInterval(()=>{},1000)"], { stdio: "ignore" });
    const sim = spawn(
      process.execPath,
      [cli, "sim", "--mqtt-port", "0", "--api-port", "0", "--modbus-port", "0", "--data-dir", dataDir],
      { cwd: ctx.root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let tail = "";
    const keep = (line: string) => {
      tail = (tail + line + "\n").slice(-4000);
    };
    let readyLine: string | null = null;
    createInterface({ input: sim.stdout! }).on("line", (line) => {
      if (readyLine === null && line.startsWith("ready ")) readyLine = line;
      else keep(line);
    });
    createInterface({ input: sim.stderr! }).on("line", keep);
    let agentPid: number | null = null;

    try {
      if (idle.pid === undefined || sim.pid === undefined) throw new Error("could not spawn node");
      const simPid = sim.pid;
      await waitUntil(() => readyLine !== null || sim.exitCode !== null, 30_000, "the sim's ready line", 20).catch(() => undefined);
      if (readyLine === null) throw new Error(`edge-agent sim did not print its ready line (exit code ${sim.exitCode}); its output:\n${tail}`);
      const ready: string = readyLine;
      const api = /\bapi=(http:\/\/\S+)/.exec(ready)?.[1];
      if (!api) throw new Error(`no api=URL in the ready line: ${ready}`);
      ctx.log(ready);

      await waitUntil(
        () => (agentPid = childrenOf(simPid).find((c) => c.cmdline.includes(" run --config"))?.pid ?? null) !== null,
        5000,
        "the agent child process (` run --config`) of the sim",
        50,
      );
      const pid = agentPid as number | null;
      if (pid === null) throw new Error("agent child not found");
      ctx.log(`agent pid ${pid}, sim pid ${simPid}, idle baseline pid ${idle.pid}; settling ${SETTLE_MS / 1000} s, then measuring ${WINDOW_MS / 1000} s`);
      await sleep(SETTLE_MS);

      const agent = new ProcMeter(pid);
      const base = new ProcMeter(idle.pid);
      const plant = new ProcMeter(simPid);
      const end = performance.now() + WINDOW_MS;
      for (;;) {
        if (!agent.sample()) throw new Error(`the agent (pid ${pid}) exited during the measurement; output:\n${tail}`);
        if (!base.sample()) throw new Error("the idle baseline process exited during the measurement");
        plant.sample();
        if (performance.now() >= end) break;
        await sleep(SAMPLE_EVERY_MS);
      }
      const a = agent.result();
      const b = base.result();
      const s = plant.result();

      // The agent must have been doing its job while we measured it, or the figure means nothing.
      const res = await fetch(`${api}/status`);
      const status = (await res.json()) as AgentStatus;
      if (!status.uplink?.connected) throw new Error(`the agent's uplink was not connected: ${JSON.stringify(status.uplink)}`);
      if (status.pipeline.received === 0) throw new Error("the agent received no samples from the simulated PLC");
      ctx.log(
        `agent RSS max ${a.rssMaxMB.toFixed(1)} MB, CPU ${a.cpuPercent.toFixed(3)} %; idle node RSS max ${b.rssMaxMB.toFixed(1)} MB, CPU ${b.cpuPercent.toFixed(3)} %` +
          ` (${status.pipeline.received} samples received, ${status.outbox.sent} sent)`,
      );

      const details = {
        windowS: Math.round(a.windowS * 10) / 10,
        samplesTaken: a.samples,
        cpuSource: a.cpuSource,
        cpuPercentFromTicks: { agent: round2(a.cpuPercentTicks), baseline: round2(b.cpuPercentTicks) },
        settleS: SETTLE_MS / 1000,
        simProcess: { rssMaxMB: round1(s.rssMaxMB), cpuPercent: round2(s.cpuPercent), note: "plant + embedded broker, not the agent" },
        agentStatus: { pipeline: status.pipeline, outbox: status.outbox, drivers: status.drivers.length },
      };
      const label = "idle node -e setInterval, same window";
      return [
        { metric: "rss.max", unit: "MB", agent: a.rssMaxMB, baseline: b.rssMaxMB, higherIsBetter: false, baselineLabel: label, details },
        { metric: "rss.end", unit: "MB", agent: a.rssEndMB, baseline: b.rssEndMB, higherIsBetter: false, baselineLabel: label },
        { metric: "cpu", unit: "% of one core", agent: a.cpuPercent, baseline: b.cpuPercent, higherIsBetter: false, baselineLabel: label },
      ];
    } finally {
      idle.kill("SIGKILL");
      if (sim.exitCode === null && sim.signalCode === null) {
        sim.kill("SIGINT");
        if (!(await waitExit(sim, 20_000))) {
          ctx.log("the sim did not stop within 20 s of SIGINT; killing it");
          sim.kill("SIGKILL");
          await waitExit(sim, 5000);
        }
      }
      // The agent runs in its own process group; make sure a failed stop leaves nothing behind.
      const leftover = agentPid as number | null;
      if (leftover !== null && alive(leftover)) {
        ctx.log(`the agent (pid ${leftover}) outlived the sim; killing it`);
        process.kill(leftover, "SIGKILL");
      }
      await waitExit(idle, 5000);
    }
  },
};

const round1 = (x: number) => Math.round(x * 10) / 10;
const round2 = (x: number) => Math.round(x * 100) / 100;

export default footprintScenario;
