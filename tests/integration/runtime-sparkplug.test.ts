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

describe("mqtt.mode: sparkplug, wired from a config", () => {
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

  it("births the node and the configured device, then sends DDATA instead of JSON batches", async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-rt-spb-"));
    sim = await startModbusSimulator({ port: 0 });
    broker = await startTestBroker();
    const topics: string[] = [];
    const observer = await mqtt.connectAsync(broker.url, { clientId: "spb-observer" });
    observer.on("message", (topic) => topics.push(topic));
    await observer.subscribeAsync(["spBv1.0/#", "edge/#"], { qos: 1 });
    const config = parseConfig(
      `version: 1
device: { id: spb-gw }
dataDir: ${dir}
mqtt: { url: "${broker.url}", mode: sparkplug, sparkplug: { groupId: plant-1 }, batch: { maxDelayMs: 50 } }
api: { enabled: false }
${modbusDevicesYaml(sim.port, 3, 100)}`,
      "spb.yaml",
      {},
    );
    runtime = new Runtime({ config, logger: testLogger(), version: "test" });
    await runtime.start();
    await waitFor("DDATA from the device", () => (topics.includes("spBv1.0/plant-1/DDATA/spb-gw/plc") ? true : undefined), 15_000);
    await observer.endAsync(true);
    // The edge node id defaults to the device id; births come before data; no JSON telemetry.
    expect(topics.indexOf("spBv1.0/plant-1/NBIRTH/spb-gw")).toBe(0);
    expect(topics.indexOf("spBv1.0/plant-1/DBIRTH/spb-gw/plc")).toBeGreaterThan(0);
    expect(topics.indexOf("spBv1.0/plant-1/DBIRTH/spb-gw/plc")).toBeLessThan(topics.indexOf("spBv1.0/plant-1/DDATA/spb-gw/plc"));
    expect(topics.some((t) => t.startsWith("edge/"))).toBe(false);
    expect(runtime.status().uplink).toMatchObject({ connected: true, groupId: "plant-1", edgeNodeId: "spb-gw" });
  });
});
