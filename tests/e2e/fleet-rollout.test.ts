import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { DIST, makeTrust, tempDir, type Trust } from "../helpers/ota.js";
import { installDemoGateway, publishRelease, writeDemoReleaseDir, type DemoReleaseBehavior } from "../../agent/sim/demo-releases.js";
import { startFleetServer, type FleetServer } from "../../simulators/fleet/index.js";

/** The real agent from this checkout's dist, or one that crashes at start: a good and a broken release. */
const releaseDir = (parent: string, version: string, behavior: DemoReleaseBehavior): string => writeDemoReleaseDir(join(parent, `rel-${version}-${behavior}`), version, behavior, join(DIST, "agent", "cli", "main.js"));

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
    const g = installDemoGateway({ dir: join(work, id), id, group, mqttUrl: broker?.url ?? "", trustRoot: trust.rootFile, factoryImage: base, factoryVersion: "1.0.0" });
    const supervisor = new CliProcess(["supervise", "--install-root", g.installRoot, "--config", g.configFile, "--health-window", "20s", "--healthy-for", "1s", "--log-level", "warn"]);
    return { id, root: g.installRoot, supervisor };
  }

  const api = async <T>(path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${fleet?.url}${path}`, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const otaStatus = (g: Gateway) =>
    JSON.parse(runCli(["ota", "status", "--install-root", g.root]).stdout) as { state: string; installed: { agent: string | null; config: string | null }; error: { code: string } | null };

  it("commits a good release canary-first, rolls a broken one back on its canary and halts before the next wave; a config bundle replaces the config", async () => {
    broker = await startTestBroker();
    const releases = join(work, "releases");
    mkdirSync(releases, { recursive: true });
    fleet = await startFleetServer({ mqttUrl: broker.url, releasesDir: releases });
    const trust = makeTrust(join(work, "trust"));
    const base = releaseDir(work, "1.0.0", "real");
    const signer = trust.releaseKeys[0]!;
    const good = await publishRelease({ releasesDir: releases, dir: releaseDir(work, "1.1.0", "real"), version: "1.1.0", signer });
    const broken = await publishRelease({ releasesDir: releases, dir: releaseDir(work, "1.2.0", "crash"), version: "1.2.0", signer });

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
      // Generous: a device that answered busy is offered again after a minute.
    }, 150_000, 250).catch(async (err: unknown) => {
      // What each side saw, so a failure here can be read from the CI log alone.
      const seen = gateways.map((g) => `--- ${g.id} ota: ${JSON.stringify(otaStatus(g))}\n${g.supervisor.stderr.slice(-3000)}\n${g.supervisor.stdout.slice(-2000)}`);
      throw new Error(`${String(err)}\nrollout: ${JSON.stringify(await api(`/rollouts/${r1.id}`))}\n${seen.join("\n")}`);
    });
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

    // A configuration bundle (kind config) to one gateway: the same config with the local API turned on.
    const a2 = gateways[1] as Gateway;
    const port = await freePort();
    const bundle = join(work, "config-1.0.1");
    mkdirSync(bundle, { recursive: true });
    const current = readFileSync(join(work, "gw-a2", "agent.yaml"), "utf8");
    writeFileSync(join(bundle, "config.yaml"), current.replace(/^api: .*$/m, `api: { enabled: true, port: ${port} }`));
    const config = await publishRelease({ releasesDir: releases, dir: bundle, version: "1.0.1", signer, kind: "config" });
    const r3 = await api<{ id: string }>("/rollouts", { release: config, devices: ["gw-a2"], stages: [{ name: "all" }], failureThreshold: 0 });
    const done3 = await waitFor("rollout 3 done", async () => {
      const r = await api<RolloutView>(`/rollouts/${r3.id}`);
      return r.state === "completed" || r.state === "halted" ? r : undefined;
    }, 90_000, 250);
    expect(done3.state, JSON.stringify(done3)).toBe("completed");
    expect(readlinkSync(join(a2.root, "config-current"))).toBe("config-releases/1.0.1");
    expect(otaStatus(a2)).toMatchObject({ installed: { agent: "1.1.0", config: "1.0.1" } });
    // The agent runs with the new config: its local API answers.
    const health = await waitFor("the API the new config turned on", async () => {
      const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
      return res?.ok ? res : undefined;
    }, 20_000, 200);
    expect(await health.json()).toEqual({ status: "ok" });
  }, 420_000);
});
