import { describe, expect, it } from "vitest";
import { SimulatedDevice } from "../../../simulators/modbus/device.js";
import { FaultInjector, parseModbusFaults, type FaultDecision } from "../../../simulators/modbus/faults.js";
import { parseModbusProfile } from "../../../simulators/modbus/profile.js";
import { Responder, type Outcome } from "../../../simulators/modbus/responder.js";

const READ_3 = Buffer.from([3, 0, 10, 0, 2]); // FC 3, registers 10..11
const READ_4 = Buffer.from([4, 0, 0, 0, 1]);
const WRITE_6 = (address: number, value: number) => Buffer.from([6, address >> 8, address & 0xff, value >> 8, value & 0xff]);

function problems(input: unknown): string {
  try {
    parseModbusFaults(input);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("faults were accepted");
}

function actions(f: FaultInjector, unit: number, n: number, pdu = READ_3): FaultDecision["action"][] {
  return Array.from({ length: n }, () => f.decide(unit, pdu).action);
}

describe("fault schema", () => {
  it("accepts the documented shape", () => {
    const f = parseModbusFaults({ latencyMs: 20, dropRate: 0.1, seed: 7, units: { "2": { exception: { code: 4, functions: [3], addresses: [100] }, corruptCrc: 0.5 }, "3": { resetNext: 2 } } });
    expect(f.units?.["2"]?.exception).toEqual({ code: 4, functions: [3], addresses: [100] });
  });

  it("names the bad field and rejects typos", () => {
    expect(problems({ dropRate: 1.5 })).toContain("dropRate");
    expect(problems({ units: { "2": { latencyMs: -1 } } })).toContain("units.2.latencyMs");
    expect(problems({ units: { "300": {} } })).toContain("unit id must be 0..255");
    expect(problems({ units: { abc: {} } })).toContain("units.abc");
    expect(problems({ exception: { code: 0 } })).toContain("exception.code");
    expect(problems({ dropRat: 0.5 })).toMatch(/dropRat/);
    expect(problems({ units: { "1": { seed: 3 } } })).toMatch(/seed/); // seed is global only
  });
});

describe("FaultInjector", () => {
  it("serves everything when there are no faults", () => {
    expect(new FaultInjector().decide(1, READ_3)).toEqual({ action: "serve", corrupt: false, latencyMs: 0 });
  });

  it("drops at the given rate, the same way for the same seed", () => {
    const a = actions(new FaultInjector({ dropRate: 0.3, seed: 11 }), 1, 400);
    const b = actions(new FaultInjector({ dropRate: 0.3, seed: 11 }), 1, 400);
    const c = actions(new FaultInjector({ dropRate: 0.3, seed: 12 }), 1, 400);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const drops = a.filter((x) => x === "drop").length;
    expect(drops).toBeGreaterThan(80); // 30 % of 400 = 120, binomial sd ≈ 9
    expect(drops).toBeLessThan(160);
    expect(actions(new FaultInjector({ dropRate: 1 }), 1, 20)).toEqual(new Array(20).fill("drop"));
    expect(actions(new FaultInjector({ dropRate: 0 }), 1, 20)).toEqual(new Array(20).fill("serve"));
  });

  it("applies per-unit overrides on top of the shared faults, field by field", () => {
    const f = new FaultInjector({ latencyMs: 5, units: { "2": { latencyMs: 50, dropRate: 1 }, "3": { corruptCrc: true } } });
    expect(f.decide(1, READ_3)).toEqual({ action: "serve", corrupt: false, latencyMs: 5 });
    expect(f.decide(2, READ_3)).toEqual({ action: "drop" });
    expect(f.decide(3, READ_3)).toEqual({ action: "serve", corrupt: true, latencyMs: 5 });
  });

  it("matches exceptions by function code and address range", () => {
    const f = new FaultInjector({ exception: { code: 6, functions: [3, 6], addresses: [11] } });
    expect(f.decide(1, READ_3)).toEqual({ action: "exception", code: 6, latencyMs: 0 }); // 10..11 contains 11
    expect(f.decide(1, Buffer.from([3, 0, 12, 0, 5])).action).toBe("serve"); // 12..16
    expect(f.decide(1, Buffer.from([3, 0, 0, 0, 11])).action).toBe("serve"); // 0..10
    expect(f.decide(1, WRITE_6(11, 1)).action).toBe("exception");
    expect(f.decide(1, READ_4).action).toBe("serve"); // FC 4 not listed
    expect(new FaultInjector({ exception: { code: 4 } }).decide(1, Buffer.from([0x41])).action).toBe("exception"); // no filter: everything
  });

  it("counts resetNext down in the scope that set it, and shows what is left", () => {
    const f = new FaultInjector({ resetNext: 1, units: { "2": { resetNext: 2 } } });
    expect(actions(f, 2, 3)).toEqual(["reset", "reset", "serve"]);
    expect(f.current().units?.["2"]?.resetNext).toBe(0);
    expect(f.current().resetNext).toBe(1); // unit 2 used its own budget
    expect(actions(f, 1, 2)).toEqual(["reset", "serve"]);
    expect(f.current().resetNext).toBe(0);
  });

  it("keeps the old faults when new ones are invalid, and clears", () => {
    const f = new FaultInjector({ dropRate: 1 });
    expect(() => f.set({ dropRate: 2 })).toThrow(/dropRate/);
    expect(f.decide(1, READ_3).action).toBe("drop");
    f.clear();
    expect(f.decide(1, READ_3).action).toBe("serve");
    expect(f.current()).toEqual({});
  });

  it("evaluates reset before drop before exception", () => {
    expect(new FaultInjector({ resetRate: 1, dropRate: 1, exception: { code: 4 } }).decide(1, READ_3).action).toBe("reset");
    expect(new FaultInjector({ dropRate: 1, exception: { code: 4 } }).decide(1, READ_3).action).toBe("drop");
  });
});

describe("Responder", () => {
  const profile = parseModbusProfile({
    units: [
      { unit: 1, signals: [{ name: "a", table: "holding", address: 10, type: "uint16", signal: { kind: "constant", value: 7 } }] },
      { unit: 2, signals: [] },
    ],
  });

  function responder(transport: "tcp" | "rtu", faults?: unknown): { r: Responder; device: SimulatedDevice } {
    const device = new SimulatedDevice(profile);
    device.refresh(0);
    return { r: new Responder(device, new FaultInjector(faults), transport), device };
  }

  const pdu = (o: Outcome) => (o.kind === "reply" ? [...o.pdu] : o.kind);

  it("serves the PDU and counts by function code and unit", async () => {
    const { r } = responder("tcp");
    expect(pdu(await r.serve(1, READ_3))).toEqual([3, 4, 0, 7, 0, 0]);
    await r.serve(1, WRITE_6(20, 5));
    await r.serve(2, READ_3);
    expect(r.stats()).toMatchObject({ requests: 3, replies: 3, exceptions: 0, byFunction: { 3: 2, 6: 1 }, byUnit: { 1: 2, 2: 1 } });
  });

  it("TCP answers an unknown unit with 0x0B; RTU ignores it", async () => {
    const tcp = responder("tcp").r;
    expect(pdu(await tcp.serve(9, READ_3))).toEqual([0x83, 0x0b]);
    expect(tcp.stats()).toMatchObject({ requests: 1, exceptions: 1, ignored: 0 });
    const rtu = responder("rtu").r;
    expect(await rtu.serve(9, READ_3)).toEqual({ kind: "silent" });
    expect(rtu.stats()).toMatchObject({ requests: 1, replies: 0, ignored: 1, byUnit: { 9: 1 } });
  });

  it("RTU broadcast executes writes on every unit and answers nothing", async () => {
    const { r, device } = responder("rtu");
    expect(await r.serve(0, WRITE_6(30, 0x1234))).toEqual({ kind: "silent" });
    expect(device.memory(1)?.readWords("holding", 30, 1)).toEqual([0x1234]);
    expect(device.memory(2)?.readWords("holding", 30, 1)).toEqual([0x1234]);
    expect(await r.serve(0, READ_3)).toEqual({ kind: "silent" });
    expect(r.stats()).toMatchObject({ requests: 2, broadcasts: 2, replies: 0 });
  });

  it("counts drops, resets, corrupted replies and injected exceptions, and skips the write", async () => {
    const { r, device } = responder("tcp", { units: { "1": { exception: { code: 4, functions: [6] } }, "2": { corruptCrc: true } } });
    expect(pdu(await r.serve(1, WRITE_6(40, 9)))).toEqual([0x86, 4]);
    expect(device.memory(1)?.readWords("holding", 40, 1)).toEqual([0]); // not executed
    const corrupt = await r.serve(2, READ_3);
    expect(corrupt).toMatchObject({ kind: "reply", corrupt: true });
    r.faults.set({ dropRate: 1 });
    expect(await r.serve(1, READ_3)).toEqual({ kind: "silent" });
    r.faults.set({ resetNext: 1 });
    expect(await r.serve(1, READ_3)).toEqual({ kind: "reset" });
    expect(r.stats()).toMatchObject({ requests: 4, replies: 2, exceptions: 1, corrupted: 1, dropped: 1, resets: 1 });
  });

  it("a unit taken offline: 0x0B on TCP, silence on RTU, back on goOnline", async () => {
    const tcp = responder("tcp").r;
    tcp.unitOffline(1, 60_000);
    expect(pdu(await tcp.serve(1, READ_3))).toEqual([0x83, 0x0b]);
    expect(tcp.stats().offlineUnits).toEqual([1]);
    tcp.unitOnline(1);
    expect(pdu(await tcp.serve(1, READ_3))).toEqual([3, 4, 0, 7, 0, 0]);

    const rtu = responder("rtu").r;
    rtu.unitOffline(1, 60_000);
    expect(await rtu.serve(1, READ_3)).toEqual({ kind: "silent" });
    expect(pdu(await rtu.serve(2, READ_3))).toEqual([3, 4, 0, 0, 0, 0]); // the other unit still answers
    expect(rtu.stats()).toMatchObject({ dropped: 1, ignored: 0 });
    rtu.offline = true; // the whole device
    expect(await rtu.serve(2, READ_3)).toEqual({ kind: "silent" });
    rtu.close(); // clears the unit timer
    expect(rtu.stats().offlineUnits).toEqual([]);
  });

  it("close() ends a latency wait without a reply", async () => {
    const { r } = responder("tcp", { latencyMs: 60_000 });
    const pending = r.serve(1, READ_3);
    r.close();
    expect(await pending).toEqual({ kind: "silent" });
    expect(r.stats().replies).toBe(0);
  });
});
