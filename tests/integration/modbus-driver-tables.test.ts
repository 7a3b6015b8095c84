import { afterEach, describe, expect, it } from "vitest";
import { ModbusDriver } from "../../edge/drivers/modbus/driver.js";
import { modbusTcpDeviceSchema } from "../../edge/drivers/modbus/config.js";
import { SharedResources } from "../../edge/drivers/shared.js";
import { startModbusSimulator, type ModbusSimulator, type ModbusProfile } from "../../simulators/modbus/index.js";
import type { Sample } from "../../edge/model.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";

const ctx = () => ({ logger: testLogger(), clock: Date.now, shared: new SharedResources() });

/** Known values per type, chosen so a wrong byte or word order cannot decode to the same number. */
const cases = [
  { type: "int16", width: 1, value: -12345 },
  { type: "uint16", width: 1, value: 0xbeef },
  { type: "int32", width: 2, value: -123456789 },
  { type: "uint32", width: 2, value: 0xdeadbeef },
  { type: "float32", width: 2, value: -1234.5 },
  { type: "int64", width: 4, value: "-9007199254740993" },
  { type: "uint64", width: 4, value: "18446744073709551557" },
  { type: "float64", width: 4, value: 3.141592653589793 },
] as const;
const orders = ["ABCD", "CDAB", "BADC", "DCBA"] as const;

function matrix() {
  const signals: ModbusProfile["units"][number]["signals"] = [];
  const points: Array<Record<string, unknown>> = [];
  let address = 0;
  for (const c of cases) {
    for (const order of orders) {
      const name = `${c.type}_${order}`;
      signals.push({ name, table: "holding", address, type: c.type, byteOrder: order, signal: { kind: "constant", value: c.value } } as never);
      points.push({ id: name, register: address, type: c.type, byteOrder: order });
      address += c.width + 1; // one spare register between values: the plan must read across the gaps
    }
  }
  return { signals, points };
}

describe("Modbus driver: every table, type and byte order against the simulator", () => {
  let sim: ModbusSimulator | undefined;
  let driver: ModbusDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    await sim?.stop();
    driver = undefined;
    sim = undefined;
  });

  it("decodes every data type in every byte order exactly as the simulator encoded it", async () => {
    const { signals, points } = matrix();
    sim = await startModbusSimulator({ port: 0, profile: { units: [{ unit: 1, signals }] } });
    const config = modbusTcpDeviceSchema.parse({ id: "m", protocol: "modbus-tcp", host: "127.0.0.1", port: sim.port, pollMs: 60_000, points });
    driver = new ModbusDriver(config, ctx());
    const got: Sample[] = [];
    await driver.start((s) => got.push(...s));
    await waitFor("one full poll", () => (got.length >= points.length ? true : undefined));
    const byId = new Map(got.map((s) => [s.point, s.value]));
    for (const c of cases) {
      for (const order of orders) {
        const v = byId.get(`${c.type}_${order}`);
        if (c.type === "float32") expect(v, `${c.type} ${order}`).toBeCloseTo(c.value, 3);
        else expect(v, `${c.type} ${order}`).toBe(c.value);
      }
    }
    expect(got.every((s) => s.quality === "good")).toBe(true);
  });

  it("coalesces nearby points into the fewest requests: the simulator counts them", async () => {
    const { signals, points } = matrix(); // 32 values over 111 registers, 1 spare register between them
    sim = await startModbusSimulator({ port: 0, profile: { units: [{ unit: 1, signals }] } });
    for (const [maxGap, requests] of [
      [4, 1], // gaps of 1 are bridged: 111 registers fit in one request of at most 125
      [0, 32], // no gap allowed: one request per value
    ] as const) {
      const config = modbusTcpDeviceSchema.parse({ id: "m", protocol: "modbus-tcp", host: "127.0.0.1", port: sim.port, pollMs: 60_000, maxGap, points });
      driver = new ModbusDriver(config, ctx());
      const got: Sample[] = [];
      const before = sim.stats().requests;
      await driver.start((s) => got.push(...s));
      await waitFor("one full poll", () => (got.length >= points.length ? true : undefined));
      expect(sim.stats().requests - before, `maxGap ${maxGap}`).toBe(requests);
      expect(driver.status().counters.requests).toBe(requests);
      await driver.stop();
    }
    // Past 125 registers the plan must split.
    const wide = Array.from({ length: 60 }, (_, i) => ({ id: `w${i}`, register: i * 3 }));
    const config = modbusTcpDeviceSchema.parse({ id: "w", protocol: "modbus-tcp", host: "127.0.0.1", port: sim.port, pollMs: 60_000, maxGap: 4, points: wide });
    driver = new ModbusDriver(config, ctx());
    const got: Sample[] = [];
    const before = sim.stats().requests;
    await driver.start((s) => got.push(...s));
    await waitFor("one full poll", () => (got.length >= wide.length ? true : undefined));
    // 178 registers (0..177) in blocks of at most 125: two requests.
    expect(sim.stats().requests - before).toBe(2);
  });

  it("reads coils, discrete inputs, bits inside registers and strings", async () => {
    sim = await startModbusSimulator({
      port: 0,
      profile: {
        units: [
          {
            unit: 1,
            signals: [
              { name: "pump", table: "coil", address: 3, type: "bool", signal: { kind: "constant", value: 1 } },
              { name: "door", table: "discrete", address: 7, type: "bool", signal: { kind: "constant", value: 0 } },
              { name: "flags", table: "holding", address: 20, type: "uint16", signal: { kind: "constant", value: 0b1010_0000_0000_0101 } },
              { name: "name", table: "holding", address: 30, type: "uint32", signal: { kind: "constant", value: 0x50_4c_43_31 } },
            ],
          },
        ],
      } as ModbusProfile,
    });
    const config = modbusTcpDeviceSchema.parse({
      id: "m",
      protocol: "modbus-tcp",
      host: "127.0.0.1",
      port: sim.port,
      pollMs: 60_000,
      points: [
        { id: "pump", table: "coil", register: 3 },
        { id: "door", table: "discrete", register: 7 },
        { id: "flag0", register: 20, type: "bool", bit: 0 },
        { id: "flag1", register: 20, type: "bool", bit: 1 },
        { id: "flag15", register: 20, type: "bool", bit: 15 },
        { id: "name", register: 30, type: "string", length: 2 },
        { id: "nameSwapped", register: 30, type: "string", length: 2, byteOrder: "BADC" },
      ],
    });
    driver = new ModbusDriver(config, ctx());
    const got: Sample[] = [];
    await driver.start((s) => got.push(...s));
    await waitFor("one full poll", () => (got.length >= 7 ? true : undefined));
    expect(Object.fromEntries(got.map((s) => [s.point, s.value]))).toEqual({
      pump: true,
      door: false,
      flag0: true,
      flag1: false,
      flag15: true,
      name: "PLC1",
      nameSwapped: "LP1C",
    });
  });

  it("polls points with their own interval on their own timer", async () => {
    sim = await startModbusSimulator({ port: 0 });
    const config = modbusTcpDeviceSchema.parse({
      id: "m",
      protocol: "modbus-tcp",
      host: "127.0.0.1",
      port: sim.port,
      pollMs: 60_000,
      points: [
        { id: "slow", register: 4 },
        { id: "fast", register: 2, type: "uint32", pollMs: 20 },
      ],
    });
    driver = new ModbusDriver(config, ctx());
    const got: Sample[] = [];
    await driver.start((s) => got.push(...s));
    await waitFor("10 fast samples", () => (got.filter((s) => s.point === "fast").length >= 10 ? true : undefined));
    expect(got.filter((s) => s.point === "slow")).toHaveLength(1);
  });

  it("writes coils, registers, multi-register values and strings with functions 5, 6, 15 and 16", async () => {
    sim = await startModbusSimulator({ port: 0 });
    const points = [
      { id: "coil", table: "coil", register: 40, writable: true },
      { id: "reg", register: 100, writable: true },
      { id: "f32", register: 102, type: "float32", byteOrder: "CDAB", writable: true },
      { id: "txt", register: 110, type: "string", length: 3, writable: true },
    ];
    for (const writeFunction of ["single", "multiple"] as const) {
      const config = modbusTcpDeviceSchema.parse({ id: "m", protocol: "modbus-tcp", host: "127.0.0.1", port: sim.port, pollMs: 60_000, writeFunction, points });
      driver = new ModbusDriver(config, ctx());
      await driver.start(() => undefined);
      await waitFor("connected", () => (driver?.status().connected ? true : undefined));
      const flip = writeFunction === "single";
      await driver.write("coil", flip);
      await driver.write("reg", flip ? 4321 : 1234);
      await driver.write("f32", 1.5);
      await driver.write("txt", "OK!");
      expect(sim.readBits(1, "coil", 40, 1)).toEqual([flip]);
      expect(sim.readRegisters(1, "holding", 100, 1)).toEqual([flip ? 4321 : 1234]);
      expect(sim.readRegisters(1, "holding", 102, 2)).toEqual([0x0000, 0x3fc0]);
      expect(sim.readRegisters(1, "holding", 110, 3)).toEqual([0x4f4b, 0x2100, 0x0000]);
      await expect(driver.write("txt", "far too long")).rejects.toMatchObject({ code: "WRITE_RANGE" });
      await expect(driver.write("coil", 7)).rejects.toMatchObject({ code: "WRITE_TYPE" });
      await driver.stop();
    }
  });

  it("writes one bit of a register with function 22, leaving the other bits as they were", async () => {
    sim = await startModbusSimulator({ port: 0 });
    const config = modbusTcpDeviceSchema.parse({
      id: "m",
      protocol: "modbus-tcp",
      host: "127.0.0.1",
      port: sim.port,
      pollMs: 60_000,
      points: [
        { id: "setword", register: 200, writable: true },
        { id: "bit3", register: 200, type: "bool", bit: 3, writable: true },
      ],
    });
    driver = new ModbusDriver(config, ctx());
    await driver.start(() => undefined);
    await waitFor("connected", () => (driver?.status().connected ? true : undefined));
    await driver.write("setword", 0b1010_0000_0000_0001);
    await driver.write("bit3", true);
    expect(sim.readRegisters(1, "holding", 200, 1)).toEqual([0b1010_0000_0000_1001]);
    await driver.write("bit3", false);
    expect(sim.readRegisters(1, "holding", 200, 1)).toEqual([0b1010_0000_0000_0001]);
    expect(sim.stats().byFunction[22]).toBe(2);
  });

  it("refuses a configuration that writes to a read-only table", () => {
    expect(() =>
      modbusTcpDeviceSchema.parse({ id: "m", protocol: "modbus-tcp", host: "h", points: [{ id: "x", table: "input", register: 1, writable: true }] }),
    ).toThrow(/input register is read-only/);
  });
});
