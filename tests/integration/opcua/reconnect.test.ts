import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OpcuaDriver } from "../../../edge/drivers/opcua/driver.js";
import { startOpcuaSimulator, type OpcuaSimulator } from "../../../simulators/opcua/index.js";
import { waitFor } from "../../helpers/ports.js";
import { collector, fast, makeDriver, tempDir } from "./helpers.js";

/**
 * Recovery: a server restart (new server, sessions and subscriptions gone) and a network drop (every
 * connection cut, the server keeps the session). Each gap shows as exactly one bad sample per point,
 * then the same monitored items deliver again without anyone touching the driver.
 */
describe("OPC UA driver: recovery after a server restart and a network drop", () => {
  let sim: OpcuaSimulator;
  let driver: OpcuaDriver;
  const tmp = tempDir("edge-opcua-reconnect-");
  const out = collector();
  const points = ["temp", "vib", "strokes"];

  beforeAll(async () => {
    sim = await startOpcuaSimulator({ port: 0, pkiDir: `${tmp.dir}/sim-pki` });
    driver = makeDriver(
      {
        endpointUrl: sim.endpointUrl,
        ...fast,
        points: [
          { id: "temp", nodeId: "ns=1;s=Line1.Oven1.Temperature" },
          { id: "vib", browsePath: "/1:Factory/1:Line1/1:Press1/1:Vibration" },
          { id: "strokes", nodeId: "ns=1;s=Line1.Press1.StrokeCount", mode: "poll", pollMs: 200 },
        ],
      },
      tmp.dir,
    );
    await driver.start(out.sink);
    await waitFor("the driver to connect", () => driver.status().connected, 20_000);
    await waitFor("good values of every point", () => points.every((p) => out.of(p).some((s) => s.quality === "good")) || undefined);
  }, 60_000);

  afterAll(async () => {
    await driver?.stop();
    await sim?.stop();
    tmp.remove();
  });

  /** Samples after index `from`: exactly one bad sample per point, then good ones again. */
  async function expectGapThenRecovery(from: number, what: string): Promise<void> {
    await waitFor(`a bad sample per point after the ${what}`, () => points.every((p) => out.all().slice(from).some((s) => s.point === p && s.quality === "bad")) || undefined, 10_000);
    const badAt = new Map(points.map((p) => [p, out.all().findIndex((s, i) => i >= from && s.point === p && s.quality === "bad")]));
    await waitFor(
      `good values of every point after the ${what}`,
      () => points.every((p) => out.all().some((s, i) => i > (badAt.get(p) as number) && s.point === p && s.quality === "good")) || undefined,
      25_000,
    );
    const after = out.all().slice(from);
    for (const p of points) {
      const mine = after.filter((s) => s.point === p);
      const firstGood = mine.findIndex((s) => s.quality === "good");
      // One bad sample on the transition (not one per reconnection attempt), and nothing silently missing.
      expect(mine.slice(0, firstGood).filter((s) => s.quality === "bad")).toHaveLength(1);
      expect(mine[0]).toMatchObject({ quality: "bad", value: null });
      expect(mine[0]?.reason).toMatch(/connection|session|disconnected/);
    }
    expect(driver.status()).toMatchObject({ state: "connected", session: "active" });
  }

  it("comes back after a server restart and the same monitored items deliver again", async () => {
    const from = out.all().length;
    const restarts = sim.stats().restarts;
    await sim.restart({ downMs: 1500 });
    expect(sim.stats().restarts).toBe(restarts + 1);
    await expectGapThenRecovery(from, "restart");
    // The new server holds the driver's two monitored items again, recreated by the client.
    await waitFor("the monitored items on the restarted server", () => sim.stats().monitoredItems === 2 || undefined);
    const since = out.all().length;
    await waitFor("fresh temperatures after the restart", () => out.all().slice(since).filter((s) => s.point === "temp" && s.quality === "good").length >= 3 || undefined);
    await waitFor("fresh vibration values after the restart", () => out.all().slice(since).filter((s) => s.point === "vib" && s.quality === "good").length >= 3 || undefined);
    expect(driver.status().subscription.state).toBe("active");
  });

  it("comes back after a network drop", async () => {
    const from = out.all().length;
    const accepted = sim.stats().accepted;
    sim.dropConnections();
    await expectGapThenRecovery(from, "network drop");
    expect(sim.stats().accepted).toBeGreaterThan(accepted);
    const since = out.all().length;
    await waitFor("fresh temperatures after the drop", () => out.all().slice(since).filter((s) => s.point === "temp" && s.quality === "good").length >= 3 || undefined);
    expect(sim.stats().sessions).toBe(1);
    expect(driver.status().counters.errors).toBeGreaterThan(0);
    expect(driver.status().lastError).toMatch(/connection/);
  });
});
