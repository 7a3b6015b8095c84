import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { stringify } from "yaml";
import type { AgentStatus } from "../../../agent/runtime/status.js";
import type { AgentReadyMessage } from "../../../agent/cli/commands/run.js";
import type { BenchResult, Scenario } from "../scenario.js";
import { agentLaunch } from "../../../agent/agent-launch.js";
import { buildLibmodbusTools, makeProfile, startCClient, startSimulatorProcess, stopChild, type ServerProcess } from "../modbus-tools.js";
import { ProcMeter, fmt, sleep, waitUntil } from "../util.js";

/**
 * The agent's CPU and memory at plant scale: the real agent process (`edge-agent run --config`, store,
 * MQTT uplink to the run's broker, local API) polling DEVICES simulated devices x POINTS uint16 points
 * every POLL_MS, from one simulator process that serves DEVICES unit ids. Measured from /proc after a
 * warm-up, against
 *  - CPU: the libmodbus C client doing the same polling (DEVICES unit ids x POINTS registers every
 *    POLL_MS, one connection), the protocol work alone, with no decoding, storing or publishing;
 *  - RSS: an idle `node -e setInterval` process, the runtime's own floor.
 *
 * The agent is started as the supervisor starts it (agentLaunch: its Node.js options and environment).
 * EDGE_BENCH_AGENT_NODE_ARGS adds Node.js options to the agent process, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" to see where its CPU goes (written when it stops).
 */

const DEVICES = 100;
const POINTS = 100;
const POLL_MS = 1000;
const WARMUP_MS = 5000;
const WINDOW_MS = 15_000;
const SAMPLE_EVERY_MS = 250;

function makeConfig(o: { dataDir: string; mqttUrl: string; simPort: number }): unknown {
  return {
    version: 1,
    device: { id: "bench-load", name: `bench: ${DEVICES} devices x ${POINTS} points` },
    dataDir: o.dataDir,
    log: { level: "warn" },
    mqtt: { url: o.mqttUrl, topicRoot: "bench/{deviceId}" },
    api: { host: "127.0.0.1", port: 0 },
    devices: Array.from({ length: DEVICES }, (_, d) => ({
      id: `plc${d + 1}`,
      protocol: "modbus-tcp",
      host: "127.0.0.1",
      port: o.simPort,
      unitId: d + 1,
      pollMs: POLL_MS,
      timeoutMs: 1000,
      points: Array.from({ length: POINTS }, (_, r) => ({ id: `plc${d + 1}.r${r}`, register: r, type: "uint16" })),
    })),
  };
}

async function getStatus(api: string): Promise<AgentStatus> {
  const res = await fetch(`${api}/status`);
  if (!res.ok) throw new Error(`GET ${api}/status: HTTP ${res.status}`);
  return (await res.json()) as AgentStatus;
}

export const agentLoadScenario: Scenario = {
  name: "agent-load",
  description:
    `CPU and RSS of the agent process (edge-agent run) polling ${DEVICES} simulated devices x ${POINTS} points every ${POLL_MS / 1000} s ` +
    `into SQLite and MQTT; CPU vs the libmodbus C client doing the same polling, RSS vs an idle node process.`,
  async run(ctx): Promise<BenchResult[]> {
    if (process.platform !== "linux") throw new Error("agent-load reads /proc and runs on Linux only");
    const cli = join(ctx.root, "dist", "agent", "cli", "main.js");
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
    const tools = await buildLibmodbusTools(ctx);
    const broker = await ctx.broker();
    const dir = await ctx.tmpDir("agent-load-");
    const windowMs = Math.max(5000, Math.round(WINDOW_MS * ctx.scale));

    let sim: ServerProcess | null = null;
    let agent: ChildProcess | null = null;
    let idle: ChildProcess | null = null;
    let poller: ReturnType<typeof startCClient> | null = null;
    try {
      sim = await startSimulatorProcess(ctx, makeProfile(DEVICES, POINTS));
      const configFile = join(dir, "agent.yaml");
      await writeFile(configFile, stringify(makeConfig({ dataDir: join(dir, "data"), mqttUrl: broker.url, simPort: sim.port })));
      ctx.log(`simulator (${DEVICES} units x ${POINTS} registers) on port ${sim.port}; broker ${broker.kind} ${broker.url}; config ${configFile}`);

      idle = spawn(process.execPath, ["-e", "setInterval(()=>{},1000)"], { stdio: "ignore" });
      const nodeArgs = (process.env.EDGE_BENCH_AGENT_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
      // Started the way the supervisor starts it on a gateway (its Node.js options and environment).
      const launch = agentLaunch(cli, ["--config", configFile], process.env, nodeArgs);
      const child = spawn(launch.command, launch.args, { cwd: dir, env: launch.env, stdio: ["ignore", "pipe", "pipe", "ipc"] });
      agent = child;
      let tail = "";
      const keep = (line: string) => {
        tail = (tail + line + "\n").slice(-4000);
      };
      createInterface({ input: child.stdout! }).on("line", keep);
      createInterface({ input: child.stderr! }).on("line", keep);
      let ready: AgentReadyMessage | null = null;
      child.on("message", (m: Partial<AgentReadyMessage> | null) => {
        if (m?.type === "ready") ready = m as AgentReadyMessage;
      });
      await waitUntil(() => ready !== null || child.exitCode !== null, 30_000, "the agent's ready message", 20).catch(() => undefined);
      const readyMsg = ready as AgentReadyMessage | null;
      if (readyMsg === null) throw new Error(`the agent did not report ready (exit code ${child.exitCode}); its output:\n${tail}`);
      if (!readyMsg.api) throw new Error("the agent reported no API address");
      const api = `http://${readyMsg.api.host}:${readyMsg.api.port}`;
      if (child.pid === undefined || idle.pid === undefined) throw new Error("could not spawn node");

      const deadline = Date.now() + 15_000;
      for (;;) {
        const st = await getStatus(api);
        const up = st.drivers.filter((d) => d.connected).length;
        if (up === DEVICES && st.uplink?.connected) break;
        if (Date.now() > deadline) throw new Error(`after 15 s only ${up} of ${DEVICES} devices were connected (uplink connected: ${st.uplink?.connected})`);
        await sleep(200);
      }
      // The C poller runs through warm-up and window, polling the same unit ids and registers.
      const rounds = Math.ceil((WARMUP_MS + windowMs) / POLL_MS) + 3;
      poller = startCClient(tools, { port: sim.port, unit: 1, count: rounds, regs: POINTS, units: DEVICES, periodMs: POLL_MS });
      const pollerDone = poller.result.catch((e: unknown) => e as Error);
      ctx.log(`agent pid ${child.pid} (api ${api}), C poller pid ${poller.pid}, idle node pid ${idle.pid}; warming up ${WARMUP_MS / 1000} s, then measuring ${windowMs / 1000} s`);
      await sleep(WARMUP_MS);

      const meters = { agent: new ProcMeter(child.pid), poller: new ProcMeter(poller.pid), idle: new ProcMeter(idle.pid), sim: new ProcMeter(sim.pid) };
      const before = await getStatus(api);
      const end = performance.now() + windowMs;
      for (;;) {
        if (!meters.agent.sample()) throw new Error(`the agent exited during the measurement; its output:\n${tail}`);
        if (!meters.poller.sample()) throw new Error(`the C poller exited during the measurement: ${String(await pollerDone)}`);
        if (!meters.idle.sample()) throw new Error("the idle node process exited during the measurement");
        meters.sim.sample();
        if (performance.now() >= end) break;
        await sleep(SAMPLE_EVERY_MS);
      }
      const after = await getStatus(api);
      const a = meters.agent.result();
      const p = meters.poller.result();
      const i = meters.idle.result();
      const s = meters.sim.result();

      // The agent must have done the whole job while it was measured, or the figures mean nothing.
      const windowS = a.windowS;
      const received = after.pipeline.received - before.pipeline.received;
      const stored = after.pipeline.stored - before.pipeline.stored;
      const sent = after.outbox.sent - before.outbox.sent;
      const expected = (DEVICES * POINTS * windowS * 1000) / POLL_MS;
      const errors = after.drivers.reduce((n, d) => n + d.counters.errors, 0) - before.drivers.reduce((n, d) => n + d.counters.errors, 0);
      const overruns = after.drivers.reduce((n, d) => n + d.counters.overruns, 0) - before.drivers.reduce((n, d) => n + d.counters.overruns, 0);
      if (!after.uplink?.connected) throw new Error(`the agent's uplink was not connected: ${JSON.stringify(after.uplink)}`);
      if (errors > 0) throw new Error(`${errors} failed Modbus requests during the window; e.g. ${after.drivers.find((d) => d.lastError)?.lastError}`);
      if (received < expected * 0.9) throw new Error(`the agent received ${received} samples in ${windowS.toFixed(1)} s, expected about ${Math.round(expected)}: it did not keep up`);
      if (sent < stored * 0.8) throw new Error(`the uplink sent ${sent} of ${stored} samples stored in the window: it did not keep up (pending ${after.outbox.pending})`);
      ctx.log(
        `agent CPU ${a.cpuPercent.toFixed(1)} %, RSS max ${a.rssMaxMB.toFixed(1)} MB; C poller CPU ${p.cpuPercent.toFixed(2)} %; idle node RSS ${i.rssMaxMB.toFixed(1)} MB; ` +
          `${fmt(received / windowS)} samples/s received, ${fmt(sent / windowS)} sent, ${after.outbox.pending} pending`,
      );

      const r1 = (x: number) => Math.round(x * 10) / 10;
      const r2 = (x: number) => Math.round(x * 100) / 100;
      const details = {
        devices: DEVICES,
        pointsPerDevice: POINTS,
        pollMs: POLL_MS,
        warmupS: WARMUP_MS / 1000,
        windowS: r1(windowS),
        cpuSource: a.cpuSource,
        samplesPerS: { received: Math.round(received / windowS), stored: Math.round(stored / windowS), sent: Math.round(sent / windowS) },
        outboxPendingAtEnd: after.outbox.pending,
        driverOverruns: overruns,
        broker: broker.kind,
        agent: { cpuPercent: r2(a.cpuPercent), cpuPercentFromTicks: r2(a.cpuPercentTicks), rssMaxMB: r1(a.rssMaxMB), rssEndMB: r1(a.rssEndMB) },
        cPoller: { cpuPercent: r2(p.cpuPercent), rssMaxMB: r1(p.rssMaxMB), note: "libmodbus C client, same unit ids and registers every second" },
        idleNode: { cpuPercent: r2(i.cpuPercent), rssMaxMB: r1(i.rssMaxMB) },
        simulator: { cpuPercent: r2(s.cpuPercent), rssMaxMB: r1(s.rssMaxMB), note: "serves both the agent and the C poller" },
      };
      return [
        {
          metric: "cpu",
          unit: "% of one core",
          agent: a.cpuPercent,
          baseline: p.cpuPercent,
          higherIsBetter: false,
          baselineLabel: `libmodbus C client polling the same ${DEVICES} units x ${POINTS} registers every ${POLL_MS / 1000} s (protocol work only)`,
          target: { on: "agent", max: 10, source: "issue: under 10 % of one core at 100 devices x 100 points / 1 s" },
          details,
        },
        {
          metric: "rss.max",
          unit: "MB",
          agent: a.rssMaxMB,
          baseline: i.rssMaxMB,
          higherIsBetter: false,
          baselineLabel: "idle node -e setInterval, same window",
          target: { on: "agent", max: 100, source: "issue: RSS under 100 MB at 100 devices x 100 points / 1 s" },
        },
      ];
    } finally {
      await poller?.stop();
      if (agent) await stopChild(agent, "SIGTERM", 15_000);
      if (idle) await stopChild(idle, "SIGKILL");
      await sim?.stop();
    }
  },
};

export default agentLoadScenario;
