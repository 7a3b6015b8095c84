import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import mqtt from "mqtt";
import { telemetryBatchSchema } from "../../edge/uplink/batch-schema.js";
import { Runtime } from "../../agent/runtime/runtime.js";
import { parseConfig } from "../../agent/config/load.js";
import { startModbusSimulator, type ModbusSimulator } from "../../simulators/modbus/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";
import { metricValue, parsePrometheus } from "../helpers/prometheus.js";

function config(dir: string, modbusPort: number, mqttUrl: string, apiPort = 0) {
  return parseConfig(
    `version: 1
device: { id: rt-gw }
dataDir: ${dir}
mqtt: { url: "${mqttUrl}", batch: { maxDelayMs: 50 } }
api: { port: ${apiPort} }
devices:
  - id: plc
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${modbusPort}
    pollMs: 100
    points:
      - { id: plc.counter, register: 2, type: uint32 }
      - { id: plc.pressure, register: 5, type: int16, scale: 0.1, unit: bar }
`,
    "test.yaml",
    {},
  );
}

describe("the agent runtime wired from a config", () => {
  let sim: ModbusSimulator;
  let broker: TestBroker;
  let runtime: Runtime | undefined;
  let dir: string;
  let blocker: Server | undefined;

  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
    blocker?.close();
    await sim?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stores and sends scaled readings, serves /metrics, and answers unknown resources and methods with JSON errors", async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-rt-"));
    sim = await startModbusSimulator({ port: 0 });
    broker = await startTestBroker();
    const observer = await mqtt.connectAsync(broker.url, { clientId: "rt-observer" });
    const pressures: number[] = [];
    observer.on("message", (_t, p) => {
      for (const s of telemetryBatchSchema.parse(JSON.parse(p.toString())).samples) if (s.point === "plc.pressure") pressures.push(s.value as number);
    });
    await observer.subscribeAsync("edge/rt-gw/telemetry", { qos: 1 });
    runtime = new Runtime({ config: config(dir, sim.port, broker.url), logger: testLogger(), version: "9.9.9" });
    await runtime.start();
    const api = `http://127.0.0.1:${runtime.apiAddress()?.port}`;
    await waitFor("samples sent", () => (runtime && runtime.status().outbox.sent >= 6 ? true : undefined), 10_000);

    const families = parsePrometheus(await (await fetch(`${api}/metrics`)).text());
    const metric = (name: string, labels: Record<string, string> = {}) => metricValue(families, name, labels);
    expect(metric("edge_agent_info", { version: "9.9.9", device: "rt-gw" })).toBe(1);
    expect(metric("edge_uplink_connected")).toBe(1);
    expect(metric("edge_driver_connected", { device: "plc", protocol: "modbus-tcp" })).toBe(1);
    expect(metric("edge_outbox_sent_total")).toBeGreaterThanOrEqual(6);
    expect(metric("edge_driver_errors_total", { device: "plc", kind: "timeout" })).toBe(0);
    expect(metric("edge_driver_latency_ms", { device: "plc", quantile: "0.99" })).toBeGreaterThan(0);

    const missing = await fetch(`${api}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "not_found" } });
    const post = await fetch(`${api}/status`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(await post.json()).toMatchObject({ error: { code: "method_not_allowed" } });

    // The pressure register holds tenths of a bar (0..100); what travels is bar, tidy to one decimal.
    await waitFor("pressure samples", () => (pressures.length >= 3 ? true : undefined), 10_000);
    await observer.endAsync(true);
    for (const p of pressures) {
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(10);
      expect(String(p)).toMatch(/^\d+(\.\d)?$/);
    }
    await runtime.stop();
    runtime = undefined;
    const db = new Database(join(dir, "edge.db"), { readonly: true });
    const maxSeq = Number((db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").get() as { value: string }).value) - 1;
    db.close();
    expect(maxSeq).toBeGreaterThanOrEqual(6);
  });

  it("rolls back a failed start: when the API port is taken, everything started before it is stopped again", async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-rt-"));
    sim = await startModbusSimulator({ port: 0 });
    broker = await startTestBroker();
    blocker = createServer();
    const busyPort = await new Promise<number>((r) => blocker?.listen(0, "127.0.0.1", () => r((blocker?.address() as { port: number }).port)));
    const rt = new Runtime({ config: config(dir, sim.port, broker.url, busyPort), logger: testLogger(), version: "1" });
    await expect(rt.start()).rejects.toMatchObject({ code: "API_PORT_BUSY" });
    // The driver that had connected to the device is gone again.
    await waitFor("the Modbus connection closed", () => (sim.stats().connections === 0 ? true : undefined), 5000);
  });
});
