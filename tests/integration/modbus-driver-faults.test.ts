import { afterEach, describe, expect, it } from "vitest";
import { ModbusDriver } from "../../edge/drivers/modbus/driver.js";
import { modbusTcpDeviceSchema } from "../../edge/drivers/modbus/config.js";
import { SharedResources } from "../../edge/drivers/shared.js";
import { startModbusSimulator, type ModbusSimulator } from "../../simulators/modbus/index.js";
import type { Sample } from "../../edge/model.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";

/**
 * Each fault the simulator injects, seen from the driver: the right error kind in status, bad samples
 * for exactly the affected points, retries where they make sense, and recovery once the fault is gone.
 */
function setup(sim: ModbusSimulator, extra: Record<string, unknown> = {}) {
  const config = modbusTcpDeviceSchema.parse({
    id: "plc",
    protocol: "modbus-tcp",
    host: "127.0.0.1",
    port: sim.port,
    pollMs: 50,
    timeoutMs: 150,
    retries: 1,
    maxGap: 2,
    points: [
      { id: "temperature", register: 0, type: "float32" },
      { id: "counter", register: 2, type: "uint32" },
      { id: "setpoint", register: 10 }, // 6 registers away from the others: its own request
    ],
    ...extra,
  });
  const got: Sample[] = [];
  const driver = new ModbusDriver(config, { logger: testLogger(), clock: Date.now, shared: new SharedResources() });
  return { driver, got, start: () => driver.start((s) => got.push(...s)) };
}

describe("Modbus driver under injected faults", () => {
  let sim: ModbusSimulator | undefined;
  let driver: ModbusDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    await sim?.stop();
    driver = undefined;
    sim = undefined;
  });

  const since = (got: Sample[], n: number) => got.slice(n);

  it("an exception for some addresses makes only those points bad, is not retried, and clears", async () => {
    sim = await startModbusSimulator({ port: 0 });
    const t = setup(sim);
    driver = t.driver;
    await t.start();
    await waitFor("good samples", () => (t.got.some((s) => s.point === "setpoint" && s.quality === "good") ? true : undefined));
    sim.setFaults({ exception: { code: 2, addresses: [10] } });
    await waitFor("setpoint bad", () => t.got.find((s) => s.point === "setpoint" && s.quality === "bad"));
    const bad = t.got.filter((s) => s.quality === "bad");
    expect(new Set(bad.map((s) => s.point))).toEqual(new Set(["setpoint"]));
    expect(bad[0]?.reason).toMatch(/^exception: .*(2|address)/i);
    const before = sim.stats();
    await new Promise((r) => setTimeout(r, 400));
    const after = sim.stats();
    // Each poll sends the good block once and the faulty one once: a retried exception would make
    // exceptions two thirds of the requests instead of half.
    const requests = after.requests - before.requests;
    const exceptions = after.exceptions - before.exceptions;
    expect(requests).toBeGreaterThanOrEqual(6);
    expect(exceptions).toBeLessThanOrEqual(requests / 2 + 1);
    expect(exceptions).toBeGreaterThanOrEqual(requests / 2 - 1);
    expect(driver.status().connected).toBe(true);
    const n = t.got.length;
    sim.clearFaults();
    await waitFor("setpoint good again", () => (since(t.got, n).some((s) => s.point === "setpoint" && s.quality === "good") ? true : undefined));
  });

  it("dropped replies time out, are retried, and count as timeouts", async () => {
    sim = await startModbusSimulator({ port: 0 });
    const t = setup(sim);
    driver = t.driver;
    await t.start();
    await waitFor("connected", () => (driver?.status().connected ? true : undefined));
    sim.setFaults({ dropRate: 1 });
    await waitFor("timeouts", () => ((driver?.status().errorsByKind?.timeout ?? 0) >= 4 ? true : undefined), 10_000);
    await waitFor("bad samples", () => t.got.find((s) => s.quality === "bad" && /^timeout/.test(s.reason ?? "")));
    const n = t.got.length;
    sim.clearFaults();
    await waitFor("recovered", () => (since(t.got, n).some((s) => s.quality === "good") ? true : undefined), 10_000);
  });

  it("added latency shows in the latency percentiles; latency beyond the timeout becomes timeouts", async () => {
    sim = await startModbusSimulator({ port: 0, faults: { latencyMs: 40 } });
    const t = setup(sim, { pollMs: 100 });
    driver = t.driver;
    await t.start();
    await waitFor("10 requests", () => ((driver?.status().latencyMs?.samples ?? 0) >= 10 ? true : undefined), 10_000);
    expect(driver.status().latencyMs?.p50).toBeGreaterThanOrEqual(40);
    expect(t.got.every((s) => s.quality === "good")).toBe(true);
    sim.setFaults({ latencyMs: 400 });
    await waitFor("timeouts", () => ((driver?.status().errorsByKind?.timeout ?? 0) >= 1 ? true : undefined), 10_000);
  });

  it("a connection reset makes the device bad as a whole and it reconnects on its own", async () => {
    sim = await startModbusSimulator({ port: 0 });
    const t = setup(sim);
    driver = t.driver;
    await t.start();
    await waitFor("connected", () => (driver?.status().connected ? true : undefined));
    const n = t.got.length;
    sim.setFaults({ resetNext: 1 });
    await waitFor("all points bad", () => (new Set(since(t.got, n).filter((s) => s.quality === "bad").map((s) => s.point)).size === 3 ? true : undefined), 10_000);
    const m = t.got.length;
    await waitFor("good again", () => (since(t.got, m).some((s) => s.quality === "good") ? true : undefined), 10_000);
    expect(sim.stats().resets).toBe(1);
  });

  it("a device offline for a second is bad meanwhile and good again after, without a restart", async () => {
    sim = await startModbusSimulator({ port: 0 });
    const t = setup(sim);
    driver = t.driver;
    await t.start();
    await waitFor("connected", () => (driver?.status().connected ? true : undefined));
    const n = t.got.length;
    sim.goOffline(1);
    await waitFor("bad", () => since(t.got, n).find((s) => s.quality === "bad"), 10_000);
    const m = t.got.length;
    await waitFor("good after the outage", () => (since(t.got, m).some((s) => s.quality === "good") ? true : undefined), 15_000);
    expect(driver.status().connected).toBe(true);
  });
});
