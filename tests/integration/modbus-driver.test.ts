import { afterEach, describe, expect, it } from "vitest";
import { ModbusDriver } from "../../edge/drivers/modbus/driver.js";
import { modbusTcpDeviceSchema } from "../../edge/drivers/modbus/config.js";
import { startModbusSimulator, type ModbusSimulator } from "../../simulators/modbus/index.js";
import type { Sample } from "../../edge/model.js";
import { EdgeError } from "../../edge/errors.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";
import { SharedResources } from "../../edge/drivers/shared.js";

const ctx = () => ({ logger: testLogger(), clock: Date.now, shared: new SharedResources() });

/** The driver against the simulator (its own codec): two independent implementations. */
function device(port: number, extra: Record<string, unknown> = {}) {
  return modbusTcpDeviceSchema.parse({
    id: "plc",
    protocol: "modbus-tcp",
    host: "127.0.0.1",
    port,
    pollMs: 50,
    timeoutMs: 300,
    points: [
      { id: "temperature", register: 0, type: "float32" },
      { id: "counter", register: 2, type: "uint32" },
      { id: "motor", register: 4 },
      { id: "pressure", register: 5, type: "int16" },
      { id: "setpoint", register: 10, writable: true },
      { id: "voltage", table: "input", register: 2, type: "float32", byteOrder: "CDAB" },
      { id: "energy", table: "input", register: 4, type: "uint64" },
    ],
    ...extra,
  });
}

describe("Modbus TCP driver against the device simulator", () => {
  let sim: ModbusSimulator | undefined;
  let driver: ModbusDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    await sim?.stop();
    driver = undefined;
    sim = undefined;
  });

  const collect = () => {
    const batches: Sample[][] = [];
    return { batches, sink: (s: Sample[]) => batches.push(s), all: () => batches.flat() };
  };

  it("reads every point in the fewest requests and decodes each type and byte order", async () => {
    sim = await startModbusSimulator({ port: 0 });
    driver = new ModbusDriver(device(sim.port), ctx());
    const out = collect();
    await driver.start(out.sink);
    const batch = await waitFor("a good poll", () => out.batches.find((b) => b.length === 7 && b.every((s) => s.quality === "good")));
    const byId = new Map(batch.map((s) => [s.point, s.value]));
    // Decode the simulator's own registers independently of the driver's codec.
    const regs = sim.readRegisters(1, "holding", 0, 11);
    const buf = Buffer.alloc(4);
    buf.writeUInt16BE(regs[0] ?? 0, 0);
    buf.writeUInt16BE(regs[1] ?? 0, 2);
    expect(byId.get("temperature")).toBeGreaterThanOrEqual(20);
    expect(byId.get("temperature")).toBeLessThanOrEqual(80);
    expect(byId.get("motor")).toBeOneOf([0, 1]);
    expect(byId.get("pressure")).toBeGreaterThanOrEqual(0);
    expect(byId.get("setpoint")).toBe(50);
    expect(byId.get("voltage")).toBeGreaterThan(227);
    expect(byId.get("voltage")).toBeLessThan(233);
    expect(typeof byId.get("energy")).toBe("string");
    expect(BigInt(byId.get("energy") as string)).toBeGreaterThan(2n ** 53n);
    const status = driver.status();
    expect(status.connected).toBe(true);
    // holding 0..10 in one request, input 2..7 in another: two requests per poll.
    expect(status.counters.requests / status.counters.polls).toBeLessThanOrEqual(2);
  });

  it("turns a dead device into one bad sample per point, then recovers when it returns", async () => {
    sim = await startModbusSimulator({ port: 0 });
    const port = sim.port;
    driver = new ModbusDriver(device(port), ctx());
    const out = collect();
    await driver.start(out.sink);
    await waitFor("connected", () => (driver?.status().connected ? true : undefined));
    await sim.stop();
    const bad = await waitFor("bad samples", () => {
      const b = out.all().filter((s) => s.quality === "bad");
      return b.length >= 7 ? b : undefined;
    });
    expect(new Set(bad.map((s) => s.point)).size).toBe(7);
    expect(bad.every((s) => s.value === null && typeof s.reason === "string")).toBe(true);
    // Polls go on while it is down, but bad samples are not repeated per poll.
    await new Promise((r) => setTimeout(r, 300));
    expect(out.all().filter((s) => s.quality === "bad")).toHaveLength(7);
    expect(driver.status().connected).toBe(false);
    expect(driver.status().lastError).toBeTruthy();
    // The device comes back on the same port: the driver reconnects on its own (backoff <= ~1 s here).
    sim = await startModbusSimulator({ port });
    const seenBefore = out.all().length;
    await waitFor("good samples after the outage", () => (out.all().slice(seenBefore).some((s) => s.quality === "good") ? true : undefined), 10_000);
    expect(driver.status().connected).toBe(true);
  });

  it("reports a Modbus exception as bad samples for the points of that request only", async () => {
    sim = await startModbusSimulator({ port: 0 });
    // Unit 9 is not in the simulator's profile: it answers exception 0x0B for every request.
    driver = new ModbusDriver(device(sim.port, { unitId: 9 }), ctx());
    const out = collect();
    await driver.start(out.sink);
    const bad = await waitFor("bad samples", () => {
      const b = out.all().filter((s) => s.quality === "bad");
      return b.length >= 7 ? b : undefined;
    });
    expect(bad[0]?.reason).toMatch(/Gateway|0x0B|11|exception/i);
    // The connection itself stays up: an exception is an answer, not a broken link.
    expect(driver.status().connected).toBe(true);
  });

  it("writes a writable point and the device holds the new value; refuses read-only and out-of-range writes", async () => {
    sim = await startModbusSimulator({ port: 0 });
    driver = new ModbusDriver(device(sim.port), ctx());
    await driver.start(() => undefined);
    await waitFor("connected", () => (driver?.status().connected ? true : undefined));
    await driver.write("setpoint", 72);
    expect(sim.readRegisters(1, "holding", 10, 1)).toEqual([72]);
    await expect(driver.write("counter", 1)).rejects.toMatchObject({ code: "POINT_READ_ONLY" });
    await expect(driver.write("setpoint", 70000)).rejects.toMatchObject({ code: "WRITE_RANGE" });
    await expect(driver.write("nope", 1)).rejects.toBeInstanceOf(EdgeError);
    expect(sim.readRegisters(1, "holding", 10, 1)).toEqual([72]);
  });

  it("starts without error when the device is unreachable, and says why in status", async () => {
    const unused = await startModbusSimulator({ port: 0 });
    const port = unused.port;
    await unused.stop();
    driver = new ModbusDriver(device(port), ctx());
    const out = collect();
    await driver.start(out.sink);
    await waitFor("an error in status", () => driver?.status().lastError ?? undefined);
    expect(driver.status().state).not.toBe("connected");
    expect(out.all().every((s) => s.quality === "bad")).toBe(true);
  });
});
