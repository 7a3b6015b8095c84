import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CliProcess, runCli } from "../helpers/cli.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/ports.js";
import { DIST, buildRelease, makeTrust, tempDir, type BuiltRelease, type Trust } from "../helpers/ota.js";
import { startFleetServer, type FleetServer } from "../../simulators/fleet/index.js";

/**
 * A release folder whose agent is the real one (this checkout's compiled agent, started through a
 * one-line entry point), or one that crashes at start: what a good and a broken release look like to
 * the supervisor and the fleet.
 */
function releaseDir(parent: string, version: string, behavior: "real" | "crash"): string {
  const dir = join(parent, `rel-${version}-${behavior}`);
  mkdirSync(join(dir, "dist", "agent", "cli"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "edge-agent", version, type: "module" }) + "\n");
  const main = pathToFileURL(join(DIST, "agent", "cli", "main.js")).href;
  writeFileSync(
    join(dir, "dist", "agent", "cli", "main.js"),
    behavior === "crash" ? `console.error("release ${version}: broken on purpose");\nprocess.exit(3);\n` : `await import(${JSON.stringify(main)});\n`,
  );
  return dir;
}

function publish(dir: string, r: BuiltRelease): string {
  const name = `${r.manifest.name}-${r.manifest.version}`;
  writeFileSync(join(dir, `${name}.tar.gz`), r.archive);
  writeFileSync(join(dir, `${name}.manifest.json`), r.manifestBytes);
  writeFileSync(join(dir, `${name}.manifest.json.sig`), JSON.stringify({ signatures: r.signatures }));
  return name;
}

interface Gateway {
  id: string;
  root: string;
  supervisor: CliProcess;
}

interface RolloutView {
  state: string;
  reason: string | null;
  devices: Record<string, { state: string }>;
}

const statesOf = (r: RolloutView) => Object.fromEntries(Object.entries(r.devices).map(([id, d]) => [id, d.state]));

describe("a staged rollout from the fleet server to supervised gateways", () => {
  const work = tempDir("fleet-rollout-");
  let broker: TestBroker | undefined;
  let fleet: FleetServer | undefined;
  const gateways: Gateway[] = [];
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.supervisor.stop("SIGTERM", 10_000)));
    await fleet?.stop();
    await broker?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  function startGateway(id: string, group: string, trust: Trust, base: string): Gateway {
    const root = join(work, id, "install");
    mkdirSync(join(root, "releases"), { recursive: true });
    // The factory image: release 1.0.0 (the real agent) installed and current.
    symlinkSync(base, join(root, "releases", "1.0.0"));
    symlinkSync("releases/1.0.0", join(root, "current"));
    const config = join(work, id, "agent.yaml");
    writeFileSync(
      config,
      `version: 1
device: { id: ${id} }
dataDir: ${join(work, id, "data")}
log: { level: warn }
mqtt: { url: "${broker?.url}" }
api: { enabled: false }
ota: { enabled: true, installRoot: ${root}, trustRoot: ${trust.rootFile}, groups: [${group}] }
`,
    );
    const supervisor = new CliProcess(["supervise", "--install-root", root, "--config", config, "--health-window", "20s", "--healthy-for", "1s", "--log-level", "warn"]);
    return { id, root, supervisor };
  }

  const api = async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${fleet?.url}${path}`, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const otaStatus = (g: Gateway) => JSON.parse(runCli(["ota", "status", "--install-root", g.root]).stdout) as { state: string; installed: { agent: string | null }; error: { code: string } | null };

  it("commits a good release canary-first, rolls a broken one back on its canary and halts before the next wave", async () => {
    broker = await startTestBroker();
    const releases = join(work, "releases");
    mkdirSync(releases, { recursive: true });
    fleet = await startFleetServer({ mqttUrl: broker.url, releasesDir: releases });
    const trust = makeTrust(join(work, "trust"));
    const base = releaseDir(work, "1.0.0", "real");
    const good = publish(releases, await buildRelease(work, trust, { version: "1.1.0", dir: releaseDir(work, "1.1.0", "real") }));
    const broken = publish(releases, await buildRelease(work, trust, { version: "1.2.0", dir: releaseDir(work, "1.2.0", "crash") }));

    for (const [id, group] of [["gw-a1", "line-1"], ["gw-a2", "line-1"], ["gw-b1", "line-2"], ["gw-b2", "line-2"]] as const) {
      gateways.push(startGateway(id, group, trust, base));
    }
    await waitFor("every gateway online at the fleet", async () => {
      const devices = await api<Array<{ device?: string; id?: string; online?: boolean }>>("/devices");
      const text = JSON.stringify(devices);
      return gateways.every((g) => text.includes(g.id)) ? true : undefined;
    }, 60_000, 250);

    // Line 1: the good release, canary first.
    const r1 = await api<{ id: string }>("/rollouts", { release: good, devices: ["gw-a1", "gw-a2"], stages: [{ name: "canary", devices: ["gw-a1"] }, { name: "rest" }], failureThreshold: 0 });
    const done1 = await waitFor("rollout 1 completed", async () => {
      const r = await api<RolloutView>(`/rollouts/${r1.id}`);
      return r.state === "completed" || r.state === "halted" ? r : undefined;
    }, 90_000, 250);
    expect(done1.state, JSON.stringify(done1)).toBe("completed");
    expect(statesOf(done1)).toEqual({ "gw-a1": "committed", "gw-a2": "committed" });
    for (const g of gateways.slice(0, 2)) {
      expect(readlinkSync(join(g.root, "current"))).toBe("releases/1.1.0");
      expect(otaStatus(g)).toMatchObject({ state: "committed", installed: { agent: "1.1.0" } });
    }

    // Line 2: a release that crashes at start. The canary rolls back on its own; the rollout halts.
    const r2 = await api<{ id: string }>("/rollouts", { release: broken, devices: ["gw-b1", "gw-b2"], stages: [{ name: "canary", devices: ["gw-b1"] }, { name: "rest" }], failureThreshold: 0 });
    const done2 = await waitFor("rollout 2 halted", async () => {
      const r = await api<RolloutView>(`/rollouts/${r2.id}`);
      return r.state === "halted" || r.state === "completed" ? r : undefined;
    }, 90_000, 250);
    expect(done2.state, JSON.stringify(done2)).toBe("halted");
    expect(done2.reason).toMatch(/gw-b1/);
    const byDevice = statesOf(done2);
    expect(byDevice["gw-b1"]).toBe("rolled_back");
    expect(byDevice["gw-b2"]).toBe("pending");
    const [b1, b2] = gateways.slice(2) as [Gateway, Gateway];
    expect(readlinkSync(join(b1.root, "current"))).toBe("releases/1.0.0");
    expect(otaStatus(b1)).toMatchObject({ state: "rolled_back", installed: { agent: "1.0.0" }, error: { code: "OTA_CRASHED" } });
    expect(otaStatus(b2)).toMatchObject({ state: "idle", installed: { agent: "1.0.0" } });
  }, 240_000);
});
