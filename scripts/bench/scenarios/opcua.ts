import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { setPriority } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { pino } from "pino";
import { stringify } from "yaml";
import type { AgentStatus } from "../../../agent/runtime/status.js";
import { opcuaDeviceSchema } from "../../../edge/drivers/opcua/config.js";
import { SharedResources } from "../../../edge/drivers/shared.js";
import { Pipeline } from "../../../edge/pipeline/pipeline.js";
import { SqliteOutbox } from "../../../edge/store/sqlite-outbox.js";
import { stopChild } from "../modbus-tools.js";
import type { BenchContext, BenchResult, Scenario } from "../scenario.js";
import { agentLaunch } from "../../../agent/agent-launch.js";
import { ProcMeter, fmt, sleep, waitUntil } from "../util.js";

/**
 * OPC UA subscription throughput and the stack's memory cost.
 *
 * notifications: ITEMS monitored items sampled every SAMPLING_MS (each value changes at every sample)
 * on the OPC UA simulator (its own process). The agent's side is the OpcuaDriver handing every
 * notification to Pipeline -> SqliteOutbox, measured as rows committed per second; the baseline is a
 * bare node-opcua client subscription with the same items and parameters that only counts the values
 * it receives. Same server, same run, alternating sides.
 *
 * rss: the agent process (`edge-agent run`) with and without an OPC UA device (POINTS_RSS subscribed
 * points on the simulator): what configuring OPC UA costs, node-opcua included.
 */

const ITEMS = 10_000;
const SAMPLING_MS = 100;
const PUBLISHING_MS = 100;
const WARMUP_MS = 1500;
const WINDOW_MS = 3000;
const POINTS_RSS = 100;
const RSS_SETTLE_MS = 3000;
const RSS_WINDOW_MS = 2000;

interface Side {
  perSecond: number;
  items: number;
  seconds: number;
  /** CPU of this process (client side only: the simulator has its own) per 1000 values, in ms. */
  cpuMsPer1k: number;
  /** From start() to every monitored item created, in s. */
  setupS: number;
}

interface SimProcess {
  endpointUrl: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startSimulator(ctx: BenchContext, items: number): Promise<SimProcess> {
  const module = pathToFileURL(join(ctx.root, "dist", "simulators", "opcua", "index.js")).href;
  if (!existsSync(new URL(module))) throw new Error(`${module} is missing: run npm run build first`);
  const pkiDir = await ctx.tmpDir("opcua-sim-pki-");
  const script = `
    const { startOpcuaSimulator } = await import(${JSON.stringify(module)});
    const sim = await startOpcuaSimulator({ port: 0, pkiDir: ${JSON.stringify(pkiDir)}, bulkVariables: ${items}, securityPolicies: ["None"], securityModes: ["None"] });
    process.stdout.write("ready " + sim.endpointUrl + "\\n");
    process.on("SIGTERM", () => sim.stop().then(() => process.exit(0)));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  let endpointUrl: string | null = null;
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line.startsWith("ready ")) endpointUrl = line.slice(6);
    else tail = (tail + line + "\n").slice(-4000);
  });
  createInterface({ input: child.stderr! }).on("line", (line) => (tail = (tail + line + "\n").slice(-4000)));
  await waitUntil(() => endpointUrl !== null || child.exitCode !== null, 60_000, "the OPC UA simulator", 50).catch(() => undefined);
  if (endpointUrl === null) {
    child.kill("SIGKILL");
    throw new Error(`the OPC UA simulator did not start (exit code ${child.exitCode}):\n${tail}`);
  }
  // The server is the heaviest process here (a sampling timer per item). Both clients are measured
  // against what it produces, so it gets the CPU first; whatever the clients then lose is their own.
  try {
    if (child.pid !== undefined) setPriority(child.pid, -10);
  } catch {
    ctx.log("could not raise the simulator's priority (not root?): figures depend more on the machine's load");
  }
  return { endpointUrl, child, stop: () => stopChild(child, "SIGTERM", 10_000) };
}

const nodeIds = (n: number) => Array.from({ length: n }, (_, i) => `ns=1;s=Bulk.V${String(i).padStart(5, "0")}`);

async function measure(what: string, count: () => number, items: number, setupS: number): Promise<Side> {
  await sleep(WARMUP_MS);
  const c0 = count();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(WINDOW_MS);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const n = count() - c0;
  if (n === 0) throw new Error(`${what}: no notification in ${seconds.toFixed(1)} s`);
  return { perSecond: n / seconds, items, seconds, cpuMsPer1k: ((cpu.user + cpu.system) / 1000 / n) * 1000, setupS };
}

/** The agent's path: OpcuaDriver -> Pipeline -> SqliteOutbox, rows committed per second. */
async function runAgent(ctx: BenchContext, endpointUrl: string, items: number, pkiDir: string): Promise<Side> {
  const { OpcuaDriver } = await import("../../../edge/drivers/opcua/driver.js");
  const dir = await ctx.tmpDir("opcua-agent-");
  const logger = pino({ level: "warn" }, pino.destination(2));
  const ids = nodeIds(items);
  const config = opcuaDeviceSchema.parse({
    protocol: "opcua",
    id: "bench",
    endpointUrl,
    subscription: { publishingIntervalMs: PUBLISHING_MS, samplingIntervalMs: SAMPLING_MS, queueSize: 1, maxNotificationsPerPublish: 0 },
    pkiDir,
    points: ids.map((nodeId, i) => ({ id: `b${i}`, nodeId })),
  });
  const outbox = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 50_000_000, maxAgeMs: 0, synchronous: "normal" });
  // The agent commits readings in 20 ms windows by default (store.commitDelayMs): measure that path.
  const pipeline = new Pipeline({ points: config.points, outbox, logger, commitDelayMs: 20 });
  const driver = new OpcuaDriver(config, { logger, clock: Date.now, shared: new SharedResources(), dataDir: dir });
  const t0 = performance.now();
  try {
    await driver.start((samples) => pipeline.process(samples));
    await waitUntil(() => driver.status().subscription.monitoredItems === items, 60_000, `${items} monitored items (agent)`, 50).catch(() => {
      throw new Error(`agent: ${driver.status().subscription.monitoredItems} of ${items} monitored items; last error ${driver.status().lastError}`);
    });
    const side = await measure("agent", () => pipeline.counters.stored, items, (performance.now() - t0) / 1000);
    const bad = pipeline.counters.storeErrors;
    if (bad > 0) throw new Error(`agent: ${bad} samples failed to store`);
    const status = driver.status();
    if (status.counters.samples < pipeline.counters.stored) throw new Error("agent: more rows stored than samples delivered");
    return side;
  } finally {
    await driver.stop();
    outbox.close();
  }
}

/** The baseline: node-opcua's own client, same items and parameters, counting the values it gets. */
async function runBaseline(endpointUrl: string, items: number, pkiDir: string): Promise<Side> {
  const { OPCUAClient, AttributeIds, TimestampsToReturn } = await import("node-opcua-client");
  const { OPCUACertificateManager } = await import("node-opcua-certificate-manager");
  const manager = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: true });
  const t0 = performance.now();
  const client = OPCUAClient.create({ endpointMustExist: false, clientCertificateManager: manager, connectionStrategy: { maxRetry: 0 } });
  let received = 0;
  try {
    await client.connect(endpointUrl);
    const session = await client.createSession();
    const subscription = await session.createSubscription2({ requestedPublishingInterval: PUBLISHING_MS, requestedLifetimeCount: 100, requestedMaxKeepAliveCount: 10, maxNotificationsPerPublish: 0, publishingEnabled: true, priority: 10 });
    const ids = nodeIds(items);
    let monitored = 0;
    for (let i = 0; i < ids.length; i += 1000) {
      const group = await subscription.monitorItems(
        ids.slice(i, i + 1000).map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })),
        { samplingInterval: SAMPLING_MS, queueSize: 1, discardOldest: true },
        TimestampsToReturn.Both,
      );
      monitored += group.monitoredItems.length;
      group.on("changed", () => {
        received++;
      });
    }
    if (monitored !== items) throw new Error(`baseline: ${monitored} of ${items} monitored items`);
    const side = await measure("baseline", () => received, items, (performance.now() - t0) / 1000);
    await session.close(true);
    return side;
  } finally {
    await client.disconnect();
    await manager.dispose();
  }
}

async function getStatus(api: string): Promise<AgentStatus> {
  const res = await fetch(`${api}/status`);
  if (!res.ok) throw new Error(`GET ${api}/status: HTTP ${res.status}`);
  return (await res.json()) as AgentStatus;
}

/** Max RSS of `edge-agent run` over a window after it settled, with the given devices. */
async function agentRss(ctx: BenchContext, devices: unknown[], label: string): Promise<{ rssMB: number; status: AgentStatus }> {
  const cli = join(ctx.root, "dist", "agent", "cli", "main.js");
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const dir = await ctx.tmpDir(`opcua-rss-${label}-`);
  const configFile = join(dir, "agent.yaml");
  await writeFile(configFile, stringify({ version: 1, device: { id: `bench-${label}` }, dataDir: join(dir, "data"), log: { level: "warn" }, api: { host: "127.0.0.1", port: 0 }, devices }));
  const launch = agentLaunch(cli, ["--config", configFile]);
  const child = spawn(launch.command, launch.args, { cwd: dir, env: launch.env, stdio: ["ignore", "pipe", "pipe", "ipc"] });
  let tail = "";
  const keep = (line: string) => (tail = (tail + line + "\n").slice(-4000));
  createInterface({ input: child.stdout! }).on("line", keep);
  createInterface({ input: child.stderr! }).on("line", keep);
  let api: string | null = null;
  child.on("message", (m: { type?: string; api?: { host: string; port: number } | null }) => {
    if (m?.type === "ready" && m.api) api = `http://${m.api.host}:${m.api.port}`;
  });
  try {
    await waitUntil(() => api !== null || child.exitCode !== null, 30_000, `the agent (${label}) to be ready`, 20).catch(() => undefined);
    const url = api as string | null;
    if (url === null || child.pid === undefined) throw new Error(`the agent (${label}) did not report ready (exit code ${child.exitCode}); its output:\n${tail}`);
    await sleep(RSS_SETTLE_MS);
    const meter = new ProcMeter(child.pid);
    const end = performance.now() + RSS_WINDOW_MS;
    while (performance.now() < end) {
      if (!meter.sample()) throw new Error(`the agent (${label}) exited; its output:\n${tail}`);
      await sleep(250);
    }
    return { rssMB: meter.result().rssMaxMB, status: await getStatus(url) };
  } finally {
    await stopChild(child, "SIGTERM", 15_000);
  }
}

export const opcuaScenario: Scenario = {
  name: "opcua",
  description:
    `OPC UA notifications/s into the outbox (OpcuaDriver -> Pipeline -> SqliteOutbox) for ${fmt(ITEMS)} monitored items sampled every ${SAMPLING_MS} ms, ` +
    `vs a bare node-opcua client subscription to the same simulator; agent RSS with vs without an OPC UA device.`,
  async run(ctx): Promise<BenchResult[]> {
    if (process.platform !== "linux") throw new Error("opcua reads /proc for RSS and runs on Linux only");
    const items = Math.max(500, Math.round(ITEMS * ctx.scale));
    // One round by default: creating 10,000 monitored items takes seconds on each side (EDGE_BENCH_ROUNDS=3 for steadier figures).
    const rounds = Math.max(1, Number(process.env.EDGE_BENCH_ROUNDS ?? 1) || 1);
    const sim = await startSimulator(ctx, Math.max(items, POINTS_RSS));
    try {
      ctx.log(`simulator ${sim.endpointUrl} (pid ${sim.child.pid}) with ${fmt(items)} variables; ${rounds} round(s), warm-up ${WARMUP_MS / 1000} s, window ${WINDOW_MS / 1000} s`);
      const agent: Side[] = [];
      const baseline: Side[] = [];
      // One PKI per side for every round: the client certificate is created once, outside the figures.
      const agentPki = await ctx.tmpDir("opcua-agent-pki-");
      const baselinePki = await ctx.tmpDir("opcua-baseline-pki-");
      for (let r = 1; r <= rounds; r++) {
        const order = r % 2 === 1 ? (["baseline", "agent"] as const) : (["agent", "baseline"] as const);
        for (const side of order) {
          const result = side === "agent" ? await runAgent(ctx, sim.endpointUrl, items, agentPki) : await runBaseline(sim.endpointUrl, items, baselinePki);
          (side === "agent" ? agent : baseline).push(result);
          ctx.log(
            `round ${r}/${rounds} ${side.padEnd(8)} ${fmt(result.perSecond)} notifications/s (${fmt(items)} items; ideal ${fmt((items * 1000) / SAMPLING_MS)}), ` +
              `${result.cpuMsPer1k.toFixed(1)} ms CPU per 1000, set up in ${result.setupS.toFixed(1)} s`,
          );
        }
      }
      const best = (s: Side[]) => Math.max(...s.map((x) => x.perSecond));
      const leastCpu = (s: Side[]) => Math.min(...s.map((x) => x.cpuMsPer1k));

      const opcuaDevice = {
        id: "line",
        protocol: "opcua",
        endpointUrl: sim.endpointUrl,
        subscription: { publishingIntervalMs: 1000, samplingIntervalMs: 1000 },
        points: nodeIds(POINTS_RSS).map((nodeId, i) => ({ id: `line.v${i}`, nodeId })),
      };
      const without = await agentRss(ctx, [], "without");
      const withOpcua = await agentRss(ctx, [opcuaDevice], "with");
      const driver = withOpcua.status.drivers.find((d) => d.id === "line");
      if (!driver?.connected) throw new Error(`the agent with an OPC UA device did not connect: ${JSON.stringify(driver ?? withOpcua.status.drivers)}`);
      if (withOpcua.status.pipeline.received === 0) throw new Error("the agent with an OPC UA device received no samples");
      ctx.log(`agent RSS: ${without.rssMB.toFixed(1)} MB without OPC UA, ${withOpcua.rssMB.toFixed(1)} MB with ${POINTS_RSS} subscribed points (${withOpcua.status.pipeline.received} samples received)`);

      const label = "bare node-opcua client subscription (same server, items, sampling and publishing intervals), counting values";
      return [
        {
          metric: "notifications",
          unit: "notifications/s",
          agent: best(agent),
          baseline: best(baseline),
          higherIsBetter: true,
          baselineLabel: label,
          target: { on: "ratio", min: 0.8, source: "issue 4: notifications/s into the outbox >= 0.8 x a bare node-opcua subscription" },
          details: {
            items,
            samplingMs: SAMPLING_MS,
            publishingMs: PUBLISHING_MS,
            queueSize: 1,
            figure: `best of ${rounds} rounds`,
            agentRounds: agent.map((s) => Math.round(s.perSecond)),
            baselineRounds: baseline.map((s) => Math.round(s.perSecond)),
          },
        },
        {
          metric: "cpu.per1k",
          unit: "ms CPU / 1000 notifications",
          agent: leastCpu(agent),
          baseline: leastCpu(baseline),
          higherIsBetter: false,
          baselineLabel: `${label}; client process only`,
          details: { agentRounds: agent.map((s) => Math.round(s.cpuMsPer1k * 10) / 10), baselineRounds: baseline.map((s) => Math.round(s.cpuMsPer1k * 10) / 10) },
        },
        {
          metric: "rss.max",
          unit: "MB",
          agent: withOpcua.rssMB,
          baseline: without.rssMB,
          higherIsBetter: false,
          baselineLabel: "the same agent with no OPC UA device (node-opcua never loaded)",
          details: { opcuaPoints: POINTS_RSS, settleS: RSS_SETTLE_MS / 1000, windowS: RSS_WINDOW_MS / 1000 },
        },
      ];
    } finally {
      await sim.stop();
    }
  },
};

export default opcuaScenario;
