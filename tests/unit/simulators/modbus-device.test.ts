import { describe, expect, it } from "vitest";
import { SimulatedDevice } from "../../../simulators/modbus/device.js";
import { decodeValue } from "../../../simulators/modbus/encoding.js";
import { defaultProfile, parseModbusProfile } from "../../../simulators/modbus/profile.js";

function device(): SimulatedDevice {
  return new SimulatedDevice(parseModbusProfile(defaultProfile));
}

describe("SimulatedDevice with the default profile", () => {
  it("writes every signal's value for the given time into the tables", () => {
    const d = device();
    d.refresh(15);
    const m = d.memory(1);
    if (m === undefined) throw new Error("unit 1 missing");
    expect(m.readWords("holding", 0, 2)).toEqual([0x42a0, 0x0000]); // 80.0 f: sine peak at a quarter period
    expect(m.readWords("holding", 2, 2)).toEqual([0, 15]); // counter
    expect(m.readWords("holding", 4, 1)).toEqual([1]); // motor: 15 s / 5 s = step 3 -> 1
    expect(m.readWords("holding", 10, 1)).toEqual([50]); // setpoint
    expect(m.readWords("input", 0, 1)).toEqual([375]); // flow ramp 15/20 of 500
    expect(m.readWords("input", 4, 4)).toEqual([0x0020, 0, 0, 0x0010]); // energy 2^53 + 1 + 15
    expect(m.readBits("coil", 0, 2)).toEqual([true, true]); // pump (step 1), enable
    expect(m.readBits("discrete", 0, 1)).toEqual([false]); // door: 15 s / 7 s = step 2 -> false
  });

  it("stores the CDAB voltage low word first", () => {
    const d = device();
    d.refresh(0);
    expect(d.memory(1)?.readWords("input", 2, 2)).toEqual([0x0000, 0x4366]); // 230.0 f
  });

  it("keeps the pressure random walk within 0..100 and moving", () => {
    const d = device();
    const seen = new Set<number>();
    for (let t = 0; t < 120; t++) {
      d.refresh(t);
      const v = decodeValue("int16", "ABCD", d.memory(1)?.readWords("holding", 5, 1) ?? []);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(100);
      seen.add(Number(v));
    }
    expect(seen.size).toBeGreaterThan(10);
  });

  it("lets a client write stick on a writable signal and be overwritten on others", () => {
    const d = device();
    d.refresh(0);
    const m = d.memory(1);
    if (m === undefined) throw new Error("unit 1 missing");
    m.writeWords("holding", 10, [77]);
    d.clientWrote(1, "holding", 10, 1);
    m.writeWords("holding", 2, [0xdead, 0xbeef]);
    d.clientWrote(1, "holding", 2, 2);
    m.writeBits("coil", 1, [false]);
    d.clientWrote(1, "coil", 1, 1);
    m.writeWords("holding", 100, [1234]);
    d.clientWrote(1, "holding", 100, 1);
    d.refresh(3);
    expect(m.readWords("holding", 10, 1)).toEqual([77]);
    expect(m.readWords("holding", 2, 2)).toEqual([0, 3]);
    expect(m.readBits("coil", 1, 1)).toEqual([false]);
    expect(m.readWords("holding", 100, 1)).toEqual([1234]);
  });

  it("takes a multi-register writable value from all its words, even when a write covers only one", () => {
    const d = new SimulatedDevice(
      parseModbusProfile({
        units: [{ unit: 4, signals: [{ name: "sp", table: "holding", address: 0, type: "float32", writable: true, signal: { kind: "constant", value: 1.5 } }] }],
      }),
    );
    d.refresh(0);
    const m = d.memory(4);
    if (m === undefined) throw new Error("unit 4 missing");
    expect(m.readWords("holding", 0, 2)).toEqual([0x3fc0, 0]);
    m.writeWords("holding", 0, [0x4000]); // high word only: 2.0
    d.clientWrote(4, "holding", 0, 1);
    d.refresh(1);
    expect(m.readWords("holding", 0, 2)).toEqual([0x4000, 0]);
    expect(d.memory(1)).toBeUndefined();
  });
});
