import { afterEach, describe, expect, it } from "vitest";
import { ModbusDriver } from "../../edge/drivers/modbus/driver.js";
import { modbusRtuDeviceSchema } from "../../edge/drivers/modbus/config.js";
import { SharedResources } from "../../edge/drivers/shared.js";
import { startModbusRtuSimulator, type ModbusRtuSimulator, type ModbusProfile } from "../../simulators/modbus/index.js";
import type { Sample } from "../../edge/model.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";
import { startPtyPair, type PtyPair } from "../helpers/pty.js";

/** Two slaves on one RS-485 line, simulated over a socat pseudo-terminal pair. */
const profile = {
  units: [1, 2].map((unit) => ({
    unit,
    signals: [
      { name: `id${unit}`, table: "holding", address: 0, type: "uint16", signal: { kind: "constant", value: unit * 111 } },
      { name: `ctr${unit}`, table: "holding", address: 1, type: "uint32", signal: { kind: "counter", perS: 10 } },
    ],
  })),
} as ModbusProfile;

function device(path: string, unitId: number, extra: Record<string, unknown> = {}) {
  return modbusRtuDeviceSchema.parse({
    id: `slave${unitId}`,
    protocol: "modbus-rtu",
    serial: { path, baudRate: 38400 },
    unitId,
    pollMs: 50,
    timeoutMs: 200,
    interFrameDelayMs: 2,
    points: [
      { id: `s${unitId}.id`, register: 0 },
      { id: `s${unitId}.ctr`, register: 1, type: "uint32" },
    ],
    ...extra,
  });
}

describe("Modbus RTU driver over a serial line (socat pty)", () => {
  let pty: PtyPair | undefined;
  let sim: ModbusRtuSimulator | undefined;
  const drivers: ModbusDriver[] = [];
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.stop();
    await sim?.stop();
    await pty?.stop();
    sim = undefined;
    pty = undefined;
  });

  it("polls two unit ids on one shared line, one request at a time, and keeps their values apart", async () => {
    pty = await startPtyPair();
    sim = await startModbusRtuSimulator({ path: pty.a, baudRate: 38400, profile });
    const shared = new SharedResources();
    const got: Sample[] = [];
    for (const unit of [1, 2]) {
      const d = new ModbusDriver(device(pty.b, unit), { logger: testLogger(), clock: Date.now, shared });
      drivers.push(d);
      await d.start((s) => got.push(...s));
    }
    await waitFor("5 polls of each slave", () => (["s1.id", "s2.id"].every((p) => got.filter((s) => s.point === p).length >= 5) ? true : undefined), 10_000);
    expect(new Set(got.filter((s) => s.point === "s1.id").map((s) => s.value))).toEqual(new Set([111]));
    expect(new Set(got.filter((s) => s.point === "s2.id").map((s) => s.value))).toEqual(new Set([222]));
    expect(got.every((s) => s.quality === "good")).toBe(true);
    const stats = sim.stats();
    expect(stats.byUnit[1]).toBeGreaterThanOrEqual(5);
    expect(stats.byUnit[2]).toBeGreaterThanOrEqual(5);
    // Interleaved requests on a shared line never collide: no CRC or framing errors at the slave.
    expect(stats.crcErrors).toBe(0);
    expect(stats.framingErrors).toBe(0);
  });

  it("reports a silent unit as timeouts and bad samples while the other unit on the line goes on", async () => {
    pty = await startPtyPair();
    sim = await startModbusRtuSimulator({ path: pty.a, baudRate: 38400, profile });
    const shared = new SharedResources();
    const got: Sample[] = [];
    const good = new ModbusDriver(device(pty.b, 1), { logger: testLogger(), clock: Date.now, shared });
    const silent = new ModbusDriver(device(pty.b, 7, { id: "ghost", points: [{ id: "ghost.x", register: 0 }] }), { logger: testLogger(), clock: Date.now, shared });
    drivers.push(good, silent);
    await good.start((s) => got.push(...s));
    await silent.start((s) => got.push(...s));
    await waitFor("a bad sample for the silent unit", () => got.find((s) => s.point === "ghost.x" && s.quality === "bad"));
    const before = got.filter((s) => s.point === "s1.id").length;
    await waitFor("unit 1 still polled", () => (got.filter((s) => s.point === "s1.id").length >= before + 3 ? true : undefined), 10_000);
    expect(silent.status().errorsByKind?.timeout).toBeGreaterThanOrEqual(2); // first attempt + retry
    expect(got.find((s) => s.point === "ghost.x")?.reason).toMatch(/^timeout/);
  });

  it("counts corrupted replies as crc errors, retries them, and recovers when the line is clean again", async () => {
    pty = await startPtyPair();
    sim = await startModbusRtuSimulator({ path: pty.a, baudRate: 38400, profile, faults: { corruptCrc: true } });
    const d = new ModbusDriver(device(pty.b, 1), { logger: testLogger(), clock: Date.now, shared: new SharedResources() });
    drivers.push(d);
    const got: Sample[] = [];
    await d.start((s) => got.push(...s));
    await waitFor("crc errors", () => ((d.status().errorsByKind?.crc ?? 0) >= 2 ? true : undefined), 10_000);
    expect(got.some((s) => s.quality === "bad" && /crc/i.test(s.reason ?? ""))).toBe(true);
    sim.clearFaults();
    await waitFor("good samples again", () => (got.some((s) => s.quality === "good") ? true : undefined), 10_000);
  });
});
