/**
 * The simulator's fast path: zero-copy frame reading, big-endian table storage read straight into a
 * response, replies built with room for the MBAP header, the synchronous Responder.handle, and
 * fault-free requests that skip the fault machinery.
 */
import { describe, expect, it } from "vitest";
import { SimulatedDevice } from "../../../simulators/modbus/device.js";
import { FaultInjector } from "../../../simulators/modbus/faults.js";
import { FrameReader, writeMbapHeader } from "../../../simulators/modbus/frames.js";
import { UnitMemory } from "../../../simulators/modbus/memory.js";
import { handlePdu } from "../../../simulators/modbus/pdu.js";
import { parseModbusProfile } from "../../../simulators/modbus/profile.js";
import { Responder } from "../../../simulators/modbus/responder.js";

function frame(tx: number, unit: number, pdu: number[]): Buffer {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tx, 0);
  b.writeUInt16BE(pdu.length + 1, 4);
  b.writeUInt8(unit, 6);
  Buffer.from(pdu).copy(b, 7);
  return b;
}

describe("FrameReader.feed", () => {
  it("hands each complete frame to the callback as a view, and keeps only a trailing partial frame", () => {
    const r = new FrameReader();
    const chunk = Buffer.concat([frame(1, 1, [3, 0, 0, 0, 2]), frame(0xabcd, 9, [6, 0, 1, 0, 2]), frame(3, 1, [3, 0, 5, 0, 1]).subarray(0, 8)]);
    const seen: [number, number, number[], boolean][] = [];
    const error = r.feed(chunk, (tx, unit, pdu) => seen.push([tx, unit, [...pdu], pdu.buffer === chunk.buffer]));
    expect(error).toBeUndefined();
    expect(seen).toEqual([
      [1, 1, [3, 0, 0, 0, 2], true],
      [0xabcd, 9, [6, 0, 1, 0, 2], true],
    ]);
    expect(r.bufferedBytes).toBe(8);
    const rest: number[] = [];
    expect(r.feed(frame(3, 1, [3, 0, 5, 0, 1]).subarray(8), (tx) => rest.push(tx))).toBeUndefined();
    expect(rest).toEqual([3]);
    expect(r.bufferedBytes).toBe(0);
  });

  it("delivers the frames before garbage, then reports the error for good", () => {
    const r = new FrameReader();
    const seen: number[] = [];
    const error = r.feed(Buffer.concat([frame(7, 1, [3, 0, 0, 0, 1]), Buffer.from("GET / HTTP/1.1\r\n")]), (tx) => seen.push(tx));
    expect(seen).toEqual([7]);
    expect(error).toMatch(/protocol id/);
    expect(r.feed(frame(8, 1, [3, 0, 0, 0, 1]), (tx) => seen.push(tx))).toBe(error);
    expect(seen).toEqual([7]);
  });
});

describe("writeMbapHeader", () => {
  it("fills the 7 bytes before the PDU", () => {
    const f = Buffer.from([0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0x83, 0x02]);
    writeMbapHeader(f, 0x1234, 17);
    expect([...f]).toEqual([0x12, 0x34, 0, 0, 0, 3, 17, 0x83, 0x02]);
  });
});

describe("UnitMemory", () => {
  it("readWordsInto copies big-endian words, zeros for a table never written", () => {
    const m = new UnitMemory();
    m.writeWords("holding", 65533, [0x1234, 0xabcd, 0x10001]);
    expect(m.readWords("holding", 65533, 3)).toEqual([0x1234, 0xabcd, 0x0001]);
    const out = Buffer.alloc(10, 0xff);
    m.readWordsInto("holding", 65533, 3, out, 2);
    expect([...out]).toEqual([0xff, 0xff, 0x12, 0x34, 0xab, 0xcd, 0x00, 0x01, 0xff, 0xff]);
    m.readWordsInto("input", 0, 2, out, 0);
    expect([...out.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    expect(() => m.readWordsInto("holding", 65535, 2, out, 0)).toThrow(RangeError);
  });

  it("readBitsInto packs LSB first and clears the unused high bits", () => {
    const m = new UnitMemory();
    m.writeBits("coil", 100, [true, false, true, true, false, false, false, false, true, true]);
    const out = Buffer.alloc(3, 0xff);
    m.readBitsInto("coil", 100, 10, out, 1);
    expect([...out]).toEqual([0xff, 0b00001101, 0b00000011]);
    m.readBitsInto("discrete", 0, 9, out, 0);
    expect([...out.subarray(0, 2)]).toEqual([0, 0]);
    expect(m.readBits("coil", 100, 4)).toEqual([true, false, true, true]);
  });
});

describe("handlePdu with headroom", () => {
  const noWrites = (): void => undefined;
  const m = new UnitMemory();
  m.writeWords("holding", 0, [1, 2]);

  it("leaves zeroed room before the same PDU it returns without headroom", () => {
    for (const pdu of [[3, 0, 0, 0, 2], [1, 0, 0, 0, 3], [6, 0, 9, 0, 7], [16, 0, 4, 0, 1, 2, 0, 5], [22, 0, 4, 0, 0xff, 0, 0], [3, 0, 0, 0, 200], [0x2b]]) {
      const plain = handlePdu(Buffer.from(pdu), m, noWrites);
      const roomy = handlePdu(Buffer.from(pdu), m, noWrites, 7);
      expect([...roomy]).toEqual([0, 0, 0, 0, 0, 0, 0, ...plain]);
    }
  });
});

describe("Responder.handle", () => {
  const profile = parseModbusProfile({
    units: [{ unit: 1, signals: [{ name: "a", table: "holding", address: 0, type: "uint16", signal: { kind: "constant", value: 7 } }] }],
  });
  const READ = Buffer.from([3, 0, 0, 0, 1]);

  function responder(faults?: unknown): Responder {
    const device = new SimulatedDevice(profile);
    device.refresh(0);
    return new Responder(device, new FaultInjector(faults), "tcp");
  }

  it("answers at once, in a frame with room for the MBAP header", () => {
    const r = responder();
    const out = r.handle(1, READ);
    expect(out.kind).toBe("reply");
    if (out.kind !== "reply") return;
    expect([...out.pdu]).toEqual([3, 2, 0, 7]);
    expect([...out.frame]).toEqual([0, 0, 0, 0, 0, 0, 0, 3, 2, 0, 7]);
    expect(r.stats()).toMatchObject({ requests: 1, replies: 1, byFunction: { 3: 1 }, byUnit: { 1: 1 } });
  });

  it("with latency: executes and counts the request now, the reply only after the wait", async () => {
    const r = responder({ latencyMs: 5 });
    const out = r.handle(1, Buffer.from([6, 0, 3, 0, 9]));
    expect(out).toMatchObject({ kind: "delayed", latencyMs: 5 });
    expect(r.stats()).toMatchObject({ requests: 1, replies: 0 });
    const reply = r.handle(1, Buffer.from([3, 0, 3, 0, 1])); // the write is already in memory
    if (out.kind !== "delayed" || reply.kind !== "delayed") throw new Error("expected delayed results");
    const done = await r.afterLatency(out);
    expect(done.kind === "reply" && [...done.pdu]).toEqual([6, 0, 3, 0, 9]);
    expect(r.stats()).toMatchObject({ requests: 2, replies: 1 });
    const second = await r.afterLatency(reply);
    expect(second.kind === "reply" && [...second.pdu]).toEqual([3, 2, 0, 9]);
  });

  it("faults that can't strike leave the fault-free path; resetNext returns to it once used up", () => {
    const f = new FaultInjector({ seed: 3, latencyMs: 0, dropRate: 0, corruptCrc: false, units: { "2": { resetRate: 0 } } });
    expect(f.decide(1, READ)).toEqual({ action: "serve", corrupt: false, latencyMs: 0 });
    f.set({ resetNext: 1 });
    expect(f.decide(1, READ)).toEqual({ action: "reset" });
    expect(f.decide(1, READ)).toEqual({ action: "serve", corrupt: false, latencyMs: 0 });
    expect(f.current()).toMatchObject({ resetNext: 0 });
  });

  it("draws the same random sequence with or without fault-free units in between", () => {
    const draws = (interleave: boolean): string[] => {
      const f = new FaultInjector({ seed: 11, units: { "2": { dropRate: 0.5 } } });
      const out: string[] = [];
      for (let i = 0; i < 40; i++) {
        if (interleave) f.decide(1, READ); // unit 1 has no fault: must not consume a draw
        out.push(f.decide(2, READ).action);
      }
      return out;
    };
    const a = draws(false);
    expect(draws(true)).toEqual(a);
    expect(a).toContain("drop");
    expect(a).toContain("serve");
  });
});
