import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import mqtt from "mqtt";
import { bucketOf, startFleetServer, type FleetServer, type FleetStats, type RolloutView } from "../../../simulators/fleet/index.js";
import { startTestBroker, type TestBroker } from "../../helpers/broker.js";
import { testLogger } from "../../helpers/logger.js";
import { waitFor } from "../../helpers/ports.js";
import { api, buildReleases, startDevice, type Behaviour, type SimulatedDevice, type TestReleases } from "./helpers.js";

describe("staged rollouts to simulated gateways over Mosquitto", () => {
  let broker: TestBroker;
  let rel: TestReleases;
  let fleet: FleetServer;
  let devices: SimulatedDevice[] = [];
  /** Offers in the order the devices received them (device ids). */
  let offerOrder: string[] = [];

  beforeAll(async () => {
    broker = await startTestBroker();
    rel = await buildReleases(["1.2.0"]);
  });
  afterEach(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    devices = [];
    offerOrder = [];
    await fleet?.stop();
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(rel.dir, { recursive: true, force: true });
  });

  async function startAll(spec: Record<string, Behaviour>, tag: string): Promise<string[]> {
    fleet = await startFleetServer({ mqttUrl: broker.url, releasesDir: rel.dir, logger: testLogger() });
    for (const [id, behaviour] of Object.entries(spec)) {
      const d = await startDevice(broker.url, `${tag}-${id}`, behaviour, rel.releaseKey);
      d.client.on("message", () => offerOrder.push(d.id));
      devices.push(d);
    }
    const ids = devices.map((d) => d.id);
    // The fleet learns who exists from the retained state topic.
    await waitFor("every device online at the fleet", async () => {
      const r = await api<{ devices: { id: string; online: boolean }[] }>(fleet.url, "GET", "/devices");
      return ids.every((id) => r.body.devices.some((d) => d.id === id && d.online)) || undefined;
    });
    return ids;
  }

  const rollout = (id: string) => api<RolloutView>(fleet.url, "GET", `/rollouts/${id}`).then((r) => r.body);

  it("offers the canary first, then the waves, and completes when every device committed", async () => {
    const ids = await startAll({ a: "commit", b: "commit", c: "commit", d: "commit", e: "commit" }, "ok");
    const canary = ids[3]!;
    const created = await api<RolloutView>(fleet.url, "POST", "/rollouts", {
      release: "edge-agent-1.2.0",
      devices: ids,
      stages: [{ name: "canary", devices: [canary] }, { name: "half", percent: 50 }, { name: "rest" }],
      failureThreshold: 0,
    });
    expect(created.status).toBe(201);
    expect(created.body.stages[0]).toMatchObject({ name: "canary", state: "active", devices: [canary] });
    const done = await waitFor("rollout completed", async () => ((await rollout(created.body.id)).state === "completed" ? rollout(created.body.id) : undefined), 20_000);
    expect(done.counts).toMatchObject({ targets: 5, offered: 5, committed: 5, failures: 0 });
    // Order: the canary, then the half (by hash bucket), then the rest.
    const half = done.stages[1]!.devices;
    expect(half.length).toBeGreaterThan(0);
    for (const d of half) expect(bucketOf(d)).toBeLessThan(50);
    expect(offerOrder[0]).toBe(canary);
    const firstRest = Math.min(...done.stages[2]!.devices.map((d) => offerOrder.indexOf(d)));
    for (const d of half) expect(offerOrder.indexOf(d)).toBeLessThan(firstRest);
    // Every device got one real offer: signed manifest verified, archive downloaded and matching sha256.
    for (const d of devices) {
      expect(d.offers).toHaveLength(1);
      expect(d.checks).toEqual([{ offerId: d.offers[0]!.offerId, signatureOk: true, downloadOk: true }]);
      expect(d.offers[0]!.rolloutId).toBe(created.body.id);
    }
    const listed = await api<{ devices: { id: string; state: string; installedVersion: string }[] }>(fleet.url, "GET", "/devices");
    for (const id of ids) expect(listed.body.devices.find((d) => d.id === id)).toMatchObject({ state: "committed", installedVersion: "1.2.0" });
  });

  it("halts at the threshold with a reason and offers nothing to later waves", async () => {
    const ids = await startAll({ can: "commit", w1a: "commit", w1b: "rollback", w1c: "fail", w2a: "commit", w2b: "commit" }, "bad");
    const [can, w1a, w1b, w1c, w2a, w2b] = ids as [string, string, string, string, string, string];
    const created = await api<RolloutView>(fleet.url, "POST", "/rollouts", {
      release: "edge-agent-1.2.0",
      stages: [{ name: "canary", devices: [can] }, { name: "wave1", devices: [w1a, w1b, w1c] }, { name: "wave2", devices: [w2a, w2b] }],
      failureThreshold: 1,
    });
    expect(created.status).toBe(201);
    const halted = await waitFor("rollout halted", async () => {
      const r = await rollout(created.body.id);
      return r.state === "halted" ? r : undefined;
    });
    expect(halted.reason).toMatch(/2 of 4 offered devices failed/);
    expect(halted.reason).toContain(`${w1b} rolled_back (OTA_HEALTH)`);
    expect(halted.reason).toContain(`${w1c} failed (OTA_SHA256)`);
    // Wave 1 finishes reporting (w1a commits) and still nobody in wave 2 hears of the release.
    await waitFor("wave 1 all terminal", async () => {
      const r = await rollout(created.body.id);
      return [w1a, w1b, w1c].every((d) => ["committed", "failed", "rolled_back"].includes(r.devices[d]!.state)) || undefined;
    });
    const stats = (await api<FleetStats>(fleet.url, "GET", "/stats")).body;
    expect(stats.offers.published).toBe(4);
    expect(devices.find((d) => d.id === w2a)!.offers).toEqual([]);
    expect(devices.find((d) => d.id === w2b)!.offers).toEqual([]);
    expect((await rollout(created.body.id)).devices[w2a]!.state).toBe("pending");

    // The operator resumes: the failures so far are accepted and wave 2 gets its offers.
    const resumed = await api<RolloutView>(fleet.url, "POST", `/rollouts/${created.body.id}/resume`);
    expect(resumed.status).toBe(200);
    await waitFor("rollout completed after resume", async () => ((await rollout(created.body.id)).state === "completed") || undefined);
    expect(devices.find((d) => d.id === w2a)!.offers).toHaveLength(1);
  });

  it("a manual halt stops the next wave; malformed statuses are counted and the server goes on", async () => {
    const ids = await startAll({ x: "silent", y: "commit" }, "man");
    const created = await api<RolloutView>(fleet.url, "POST", "/rollouts", { release: "edge-agent-1.2.0", devices: ids, stages: [{ name: "one", devices: [ids[0]!] }, { name: "two" }], failureThreshold: 0.5 });
    const halt = await api<RolloutView>(fleet.url, "POST", `/rollouts/${created.body.id}/halt`, { reason: "change freeze" });
    expect(halt.body).toMatchObject({ state: "halted", reason: "change freeze" });

    const rogue = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    await rogue.publishAsync(`edge/${ids[0]}/ota/status`, "not json", { qos: 1 });
    await rogue.publishAsync(`edge/${ids[0]}/ota/status`, JSON.stringify({ v: 1, device: ids[1], offerId: "o", name: "n", kind: "agent", version: "1", state: "failed", installedVersion: "1", ts: 1 }), { qos: 1 });
    await rogue.publishAsync(`edge/${ids[0]}/ota/status`, JSON.stringify({ v: 1, device: ids[0], state: "exploded" }), { qos: 1 });
    await rogue.endAsync();
    const stats = await waitFor("3 malformed statuses", async () => {
      const s = (await api<FleetStats>(fleet.url, "GET", "/stats")).body;
      return s.status.malformed === 3 ? s : undefined;
    });
    expect(stats.status.accepted).toBe(0);
    expect((await api(fleet.url, "GET", "/health")).status).toBe(200);
    expect(devices[1]!.offers).toEqual([]);
  });

  it("refuses a rollout of an unknown release or with a bad spec, naming the problem", async () => {
    await startAll({ z: "commit" }, "bad-spec");
    const unknown = await api<{ error: string }>(fleet.url, "POST", "/rollouts", { release: "edge-agent-9.9.9", stages: [{ name: "all" }], failureThreshold: 0 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toContain("edge-agent-9.9.9");
    const bad = await api<{ error: string }>(fleet.url, "POST", "/rollouts", { release: "edge-agent-1.2.0", stages: [{ name: "x", percent: 10, devices: ["a"] }], failureThreshold: 1.5 });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/devices or percent/);
  });
});
