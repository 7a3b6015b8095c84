import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import mqtt from "mqtt";
import { startFleetServer, type FleetServer, type FleetStats } from "../../../simulators/fleet/index.js";
import { startTestBroker, type TestBroker } from "../../helpers/broker.js";
import { testLogger } from "../../helpers/logger.js";
import { waitFor } from "../../helpers/ports.js";
import { api, buildReleases, type TestReleases } from "./helpers.js";

describe("two fleet instances sharing the status subscription", () => {
  let broker: TestBroker;
  let rel: TestReleases;

  beforeAll(async () => {
    broker = await startTestBroker();
    rel = await buildReleases(["1.2.0"], { payloadBytes: 1000 });
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(rel.dir, { recursive: true, force: true });
  });

  it.each([
    [5, "MQTT 5"],
    [4, "MQTT 3.1.1"],
  ] as const)("every status is counted once overall (%s, %s)", async (version, _label) => {
    const fleets: FleetServer[] = [];
    try {
      for (let i = 0; i < 2; i++) fleets.push(await startFleetServer({ mqttUrl: broker.url, mqttVersion: version, shareGroup: "fleet", releasesDir: rel.dir, logger: testLogger() }));
      expect(fleets[0]!.statusFilter).toBe("$share/fleet/edge/+/ota/status");
      const total = 60;
      const device = await mqtt.connectAsync(broker.url, { protocolVersion: version, reconnectPeriod: 0 });
      for (let i = 0; i < total; i++) {
        const id = `share-${version}-${i % 6}`;
        const status = { v: 1, device: id, offerId: `o-${i}`, name: "edge-agent", kind: "agent", version: "1.2.0", state: "downloading", progress: { bytes: i, total }, installedVersion: "1.0.0", ts: i };
        await device.publishAsync(`edge/${id}/ota/status`, JSON.stringify(status), { qos: 1 });
      }
      await device.endAsync();
      const counts = async () => Promise.all(fleets.map(async (f) => (await api<FleetStats>(f.url, "GET", "/stats")).body.status.received));
      const per = await waitFor(`${total} statuses received across both instances`, async () => {
        const c = await counts();
        return c[0]! + c[1]! >= total ? c : undefined;
      });
      expect(per[0]! + per[1]!).toBe(total);
      // Mosquitto hands shared messages out in turn: both instances carry part of the load.
      expect(per[0]).toBeGreaterThan(0);
      expect(per[1]).toBeGreaterThan(0);
      // Nothing arrives twice later on: one more status brings the sum to exactly total + 1.
      const late = await mqtt.connectAsync(broker.url, { protocolVersion: version, reconnectPeriod: 0 });
      await late.publishAsync("edge/share-late/ota/status", JSON.stringify({ v: 1, device: "share-late", offerId: "o-late", name: "edge-agent", kind: "agent", version: "1.2.0", state: "idle", installedVersion: "1.0.0", ts: 0 }), { qos: 1 });
      await late.endAsync();
      const after = await waitFor("the last status", async () => {
        const c = await counts();
        return c[0]! + c[1]! > total ? c : undefined;
      });
      expect(after[0]! + after[1]!).toBe(total + 1);
    } finally {
      await Promise.all(fleets.map((f) => f.stop()));
    }
  });

  it("without a share group, each instance sees every status", async () => {
    const fleets = [await startFleetServer({ mqttUrl: broker.url, releasesDir: rel.dir, logger: testLogger() }), await startFleetServer({ mqttUrl: broker.url, releasesDir: rel.dir, logger: testLogger() })];
    try {
      const c = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
      for (let i = 0; i < 5; i++) await c.publishAsync("edge/solo/ota/status", JSON.stringify({ v: 1, device: "solo", offerId: `o-${i}`, name: "edge-agent", kind: "agent", version: "1.2.0", state: "idle", installedVersion: "1.0.0", ts: i }), { qos: 1 });
      await c.endAsync();
      for (const f of fleets) await waitFor("5 statuses at each instance", async () => ((await api<FleetStats>(f.url, "GET", "/stats")).body.status.received === 5) || undefined);
    } finally {
      await Promise.all(fleets.map((f) => f.stop()));
    }
  });
});
