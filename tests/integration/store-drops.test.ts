import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { Runtime } from "../../agent/runtime/runtime.js";
import { parseConfig } from "../../agent/config/load.js";
import { startModbusSimulator, type ModbusSimulator } from "../../simulators/modbus/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";
import { modbusDevicesYaml } from "../helpers/configs.js";

/**
 * A bound forces drops while the broker is away: the agent counts them by reason, and once the link is
 * back the fleet hears about them as a store.dropped event, ahead of the telemetry backlog.
 */
describe("drops are counted and reported upstream", () => {
  let sim: ModbusSimulator | undefined;
  let broker: TestBroker | undefined;
  let runtime: Runtime | undefined;
  let dir: string;
  afterEach(async () => {
    await runtime?.stop();
    await sim?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a maxRows bound during an outage: dropped.rows counted, a store.dropped event arrives first when the broker returns", async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-drops-"));
    sim = await startModbusSimulator({ port: 0 });
    broker = await startTestBroker();
    await broker.stop(); // the WAN is down from the start
    const config = parseConfig(
      `version: 1
device: { id: drops-gw }
dataDir: ${dir}
mqtt: { url: "${broker.url}", batch: { maxDelayMs: 50 } }
api: { enabled: false }
store: { maxRows: 1000, commitDelayMs: 0 }
${modbusDevicesYaml(sim.port, 50, 20)}`,
      "drops.yaml",
      {},
    );
    runtime = new Runtime({ config, logger: testLogger(), version: "test", upkeepMs: 100 });
    await runtime.start();
    const rt = runtime;
    await waitFor("rows dropped by the bound", () => (rt.status().outbox.dropped.rows > 2000 ? true : undefined), 20_000);
    const pendingBefore = rt.status().outbox.pending;
    expect(pendingBefore).toBeLessThanOrEqual(1000);

    const order: string[] = [];
    const events: Array<{ type: string; count: number; byReason: Record<string, number> }> = [];
    await broker.start();
    const observer = await mqtt.connectAsync(broker.url, { clientId: "drops-observer" });
    observer.on("message", (topic, payload) => {
      order.push(topic.split("/").pop() ?? "");
      if (topic.endsWith("/events")) events.push(...(JSON.parse(payload.toString()) as { samples: typeof events }).samples);
    });
    await observer.subscribeAsync(["edge/drops-gw/events", "edge/drops-gw/telemetry"], { qos: 1 });
    await waitFor("the store.dropped event", () => (events.length > 0 ? true : undefined), 20_000);
    await observer.endAsync(true);

    const reported = events.filter((e) => e.type === "store.dropped").reduce((n, e) => n + e.count, 0);
    expect(reported).toBeGreaterThan(2000);
    expect(events[0]?.byReason.rows).toBeGreaterThan(0);
    // Events outrank telemetry: the first message after the reconnect is the drop report.
    expect(order[0]).toBe("events");
  }, 60_000);
});
