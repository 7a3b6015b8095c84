import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Logger } from "../../edge/logger.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../simulators/broker/aedes-broker.js";
import { startFleetServer, type FleetServer } from "../../simulators/fleet/index.js";
import { encodePrivateKeyFile, generateKey, type PrivateKey } from "../ota/keys.js";
import { createRoot, encodeRootFile, signRoot } from "../ota/root.js";
import { installDemoGateway, publishRelease, writeDemoReleaseDir } from "./demo-releases.js";
import { GatewayChild } from "./gateway-child.js";
import { listenWithFallback } from "./ports.js";

export interface FleetDemoOptions {
  host: string;
  mqttPort: number;
  fleetPort: number;
  gateways: number;
  /** The demo lives in DIR/fleet-demo, recreated on every start. */
  dataDir: string;
  /** This checkout's compiled CLI: it runs the supervisors, and the good releases load it. */
  cliPath: string;
  logger: Logger;
  /** Notices for people (a busy port fell back). */
  print: (line: string) => void;
  /** Every gateway's output, prefixed with its id. */
  gatewayOutput: (line: string) => void;
  /** A device or rollout changed at the fleet. */
  onChange: () => void;
  onGatewayExit: (id: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface DemoGatewayInfo {
  id: string;
  group: string;
  /** Supervisor pid = the gateway's process group id. */
  pid: number | undefined;
  installRoot: string;
}

export interface FleetDemo {
  dir: string;
  broker: EmbeddedBroker;
  fleet: FleetServer;
  gateways: DemoGatewayInfo[];
  releases: { factory: string; good: string; broken: string };
  /** Resolves once the fleet has seen every gateway online; rejects on timeout, abort or a dead gateway. */
  waitOnline(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

/** Versions of the demo: the factory image, a good update and one that crashes at start. */
export const DEMO_VERSIONS = { factory: "1.0.0", good: "1.1.0", broken: "1.2.0" } as const;

/** Present in a folder this demo created, so a restart may wipe it and nothing else. */
const MARKER = ".edge-agent-fleet-demo";

/** Gateways alternate between two production lines, so the table shows the group split. */
export const demoGroupOf = (index: number): string => `line-${(index % 2) + 1}`;

/**
 * A fresh demo folder on every start: the demo is about watching 1.0.0 move to 1.1.0, which needs
 * gateways that start on the factory image. A folder without our marker is left alone.
 */
function freshDir(dir: string): void {
  if (existsSync(dir) && !existsSync(join(dir, MARKER)) && readdirSync(dir).length > 0) {
    throw new Error(`${dir} exists and was not made by the fleet demo; choose another --data-dir or remove it`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MARKER), "created by `edge-agent sim fleet-demo`; removed and recreated on every start\n");
}

/**
 * A throwaway root of trust and release key. The private keys are written too (owner-only), so a
 * developer can sign a release of their own with `edge-agent release sign` and roll it out.
 */
function demoTrust(dir: string): { rootFile: string; releaseKey: PrivateKey } {
  mkdirSync(dir, { recursive: true });
  const rootKey = generateKey("demo-root");
  const releaseKey = generateKey("demo-release");
  const now = new Date();
  const root = signRoot(createRoot({ version: 1, expires: new Date(now.getTime() + 365 * 86_400_000), rootKeys: [rootKey], rootThreshold: 1, releaseKeys: [releaseKey], releaseThreshold: 1 }), rootKey);
  const rootFile = join(dir, "root.json");
  writeFileSync(rootFile, encodeRootFile(root));
  writeFileSync(join(dir, "root.key.json"), encodePrivateKeyFile(rootKey, now), { mode: 0o600 });
  writeFileSync(join(dir, "release.key.json"), encodePrivateKeyFile(releaseKey, now), { mode: 0o600 });
  return { rootFile, releaseKey };
}

/**
 * The fleet demo in one process: an embedded broker, the fleet server simulator with three freshly
 * signed releases, and N gateways, each `edge-agent supervise` running the real agent from this
 * checkout in its own process group with its own install root, data folder and config.
 */
export async function startFleetDemo(o: FleetDemoOptions): Promise<FleetDemo> {
  const dir = resolve(o.dataDir, "fleet-demo");
  freshDir(dir);
  const trust = demoTrust(join(dir, "trust"));
  const releasesDir = join(dir, "releases");
  mkdirSync(releasesDir, { recursive: true });
  const build = (version: string, behavior: "real" | "crash") => writeDemoReleaseDir(join(dir, "build", version), version, behavior, o.cliPath);
  const factoryImage = build(DEMO_VERSIONS.factory, "real");
  // Published before the fleet starts, so it never lists a half-written release as a problem.
  const releases = {
    factory: await publishRelease({ releasesDir, dir: factoryImage, version: DEMO_VERSIONS.factory, signer: trust.releaseKey }),
    good: await publishRelease({ releasesDir, dir: build(DEMO_VERSIONS.good, "real"), version: DEMO_VERSIONS.good, signer: trust.releaseKey }),
    broken: await publishRelease({ releasesDir, dir: build(DEMO_VERSIONS.broken, "crash"), version: DEMO_VERSIONS.broken, signer: trust.releaseKey }),
  };

  const parts: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    for (const p of parts.reverse()) await p.stop().catch((err: unknown) => o.logger.error({ err }, "stop failed"));
  };
  try {
    const mqtt = await listenWithFallback(o.mqttPort, (port) => startEmbeddedBroker({ host: o.host, port }));
    parts.push(mqtt.value);
    if (mqtt.fellBack) o.print(`port ${o.mqttPort} is busy: the embedded MQTT broker listens on ${mqtt.value.port} instead`);
    const broker = mqtt.value;
    // aedes speaks MQTT 3.1.1, as do the agents by default.
    const fleet = await startFleetServer({ mqttUrl: broker.url, mqttVersion: 4, releasesDir, host: o.host, port: o.fleetPort, logger: o.logger, onChange: o.onChange });
    parts.push(fleet);

    let dead: string | undefined;
    const children: GatewayChild[] = [];
    // Gateways live in their own process groups, so nothing takes them down with this process: if it
    // exits without a clean stop (a second Ctrl-C, an uncaught error), kill their groups on the way out.
    const killLeftovers = () => {
      for (const c of children) {
        try {
          if (c.pid !== undefined) process.kill(-c.pid, "SIGKILL");
        } catch {
          // ESRCH: that gateway is already gone.
        }
      }
    };
    process.once("exit", killLeftovers);
    // Parts stop in reverse: the gateways together (each waits for a clean agent stop), before the fleet
    // and the broker so agents leave while their broker is up, and the exit hook only after them.
    parts.push({ stop: async () => void process.off("exit", killLeftovers) });
    parts.push({ stop: async () => void (await Promise.all(children.map((c) => c.stop()))) });
    const gateways: DemoGatewayInfo[] = [];
    for (let i = 0; i < o.gateways; i++) {
      const id = `gw-${i + 1}`;
      const group = demoGroupOf(i);
      const g = installDemoGateway({ dir: join(dir, id), id, group, mqttUrl: broker.url, trustRoot: trust.rootFile, factoryImage, factoryVersion: DEMO_VERSIONS.factory });
      // The fleet learns groups from provisioning; the demo skips provisioning, so it tells the fleet directly.
      fleet.core.registry.setGroup(id, group);
      const child = new GatewayChild({
        id,
        cliPath: o.cliPath,
        installRoot: g.installRoot,
        configFile: g.configFile,
        // A short health window keeps the demo brisk; the real default (60 s) suits slow field hardware.
        superviseArgs: ["--health-window", "30s", "--healthy-for", "3s", "--log-level", "warn"],
        output: o.gatewayOutput,
        onUnexpectedExit: (code, signal) => {
          dead ??= `${id} exited (code ${code}, signal ${signal})`;
          o.onGatewayExit(id, code, signal);
        },
      });
      children.push(child);
      child.start();
      gateways.push({ id, group, pid: child.pid, installRoot: g.installRoot });
    }

    const waitOnline = async (timeoutMs: number, signal?: AbortSignal): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const online = new Set(fleet.core.devices().filter((d) => d.online === true).map((d) => d.id));
        const missing = gateways.filter((g) => !online.has(g.id)).map((g) => g.id);
        if (missing.length === 0) return;
        if (dead !== undefined) throw new Error(`a gateway died before the demo was ready: ${dead}`);
        if (signal?.aborted) throw new Error("stopped before every gateway was online");
        if (Date.now() > deadline) throw new Error(`${missing.join(", ")} not online at the fleet after ${timeoutMs} ms; see the gateway output above`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    return { dir, broker, fleet, gateways, releases, waitOnline, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
