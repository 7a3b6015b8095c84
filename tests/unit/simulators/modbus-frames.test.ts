import { describe, expect, it } from "vitest";
import { encodeFrame, FrameReader } from "../../../simulators/modbus/frames.js";
import { UnitMemory } from "../../../simulators/modbus/memory.js";
import { handlePdu, type WriteListener } from "../../../simulators/modbus/pdu.js";

/** An MBAP request frame, built by hand so the test does not trust the code under test. */
function frame(tx: number, unit: number, pdu: number[], protocolId = 0): Buffer {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tx, 0);
  b.writeUInt16BE(protocolId, 2);
  b.writeUInt16BE(pdu.length + 1, 4);
  b.writeUInt8(unit, 6);
  Buffer.from(pdu).copy(b, 7);
  return b;
}

describe("FrameReader", () => {
  it("returns every frame of a chunk that carries several", () => {
    const r = new FrameReader();
    const { frames, error } = r.push(Buffer.concat([frame(1, 1, [3, 0, 0, 0, 2]), frame(2, 7, [4, 0, 5, 0, 1])]));
    expect(error).toBeUndefined();
    expect(frames.map((f) => [f.transactionId, f.unitId, [...f.pdu]])).toEqual([
      [1, 1, [3, 0, 0, 0, 2]],
      [2, 7, [4, 0, 5, 0, 1]],
    ]);
    expect(r.bufferedBytes).toBe(0);
  });

  it("reassembles a frame delivered one byte at a time", () => {
    const r = new FrameReader();
    const bytes = frame(0xbeef, 1, [6, 0, 10, 0, 77]);
    for (let i = 0; i < bytes.length - 1; i++) expect(r.push(bytes.subarray(i, i + 1)).frames).toEqual([]);
    const { frames } = r.push(bytes.subarray(bytes.length - 1));
    expect(frames).toHaveLength(1);
    expect(frames[0]?.transactionId).toBe(0xbeef);
    expect([...(frames[0]?.pdu ?? [])]).toEqual([6, 0, 10, 0, 77]);
  });

  it("handles a frame split across chunks followed by the start of the next", () => {
    const r = new FrameReader();
    const all = Buffer.concat([frame(1, 1, [3, 0, 0, 0, 1]), frame(2, 1, [3, 0, 1, 0, 1])]);
    expect(r.push(all.subarray(0, 9)).frames).toHaveLength(0);
    expect(r.push(all.subarray(9, 15)).frames.map((f) => f.transactionId)).toEqual([1]);
    expect(r.push(all.subarray(15)).frames.map((f) => f.transactionId)).toEqual([2]);
  });

  it("reports a wrong protocol id and stays broken", () => {
    const r = new FrameReader();
    expect(r.push(frame(1, 1, [3, 0, 0, 0, 1], 1)).error).toMatch(/protocol id 1/);
    expect(r.push(frame(2, 1, [3, 0, 0, 0, 1])).error).toBeDefined();
  });

  it("reports an impossible length as soon as the header is in, without waiting for the body", () => {
    const r = new FrameReader();
    expect(r.push(Buffer.from([0, 1, 0, 0, 0xff, 0xff])).error).toMatch(/length 65535/);
    expect(new FrameReader().push(Buffer.from([0, 1, 0, 0, 0, 1, 1])).error).toMatch(/length 1/);
    expect(new FrameReader().push(Buffer.from([0, 1, 0, 0, 0, 255])).error).toMatch(/length 255/);
  });

  it("still returns the good frames that came before garbage", () => {
    const { frames, error } = new FrameReader().push(Buffer.concat([frame(9, 1, [3, 0, 0, 0, 1]), Buffer.from("GET / HTTP/1.1\r\n")]));
    expect(frames.map((f) => f.transactionId)).toEqual([9]);
    expect(error).toBeDefined();
  });
});

describe("encodeFrame", () => {
  it("echoes transaction and unit id with protocol 0 and the right length", () => {
    expect([...encodeFrame(0x1234, 17, Buffer.from([0x83, 0x02]))]).toEqual([0x12, 0x34, 0, 0, 0, 3, 17, 0x83, 0x02]);
  });
});

describe("handlePdu", () => {
  const writes: Parameters<WriteListener>[] = [];
  const onWrite: WriteListener = (...args) => writes.push(args);
  const call = (memory: UnitMemory, pdu: number[]): number[] => [...handlePdu(Buffer.from(pdu), memory, onWrite)];
  const u16 = (n: number): number[] => [n >> 8, n & 0xff];

  it("reads holding and input registers", () => {
    const m = new UnitMemory();
    m.writeWords("holding", 100, [0x1234, 0xabcd]);
    m.writeWords("input", 0, [7]);
    expect(call(m, [3, ...u16(100), ...u16(2)])).toEqual([3, 4, 0x12, 0x34, 0xab, 0xcd]);
    expect(call(m, [4, ...u16(0), ...u16(1)])).toEqual([4, 2, 0, 7]);
  });

  it("packs bits least significant first, padding the last byte with zeros", () => {
    const m = new UnitMemory();
    m.writeBits("coil", 0, [true, false, true, false, false, false, false, false, false, true]);
    m.writeBits("discrete", 3, [true]);
    expect(call(m, [1, ...u16(0), ...u16(10)])).toEqual([1, 2, 0b0000_0101, 0b0000_0010]);
    expect(call(m, [2, ...u16(0), ...u16(4)])).toEqual([2, 1, 0b1000]);
  });

  it("enforces read quantity limits with exception 03 and address range with 02", () => {
    const m = new UnitMemory();
    expect(call(m, [3, ...u16(0), ...u16(125)])[1]).toBe(250);
    expect(call(m, [3, ...u16(0), ...u16(126)])).toEqual([0x83, 3]);
    expect(call(m, [4, ...u16(0), ...u16(0)])).toEqual([0x84, 3]);
    expect(call(m, [1, ...u16(0), ...u16(2000)])[1]).toBe(250);
    expect(call(m, [1, ...u16(0), ...u16(2001)])).toEqual([0x81, 3]);
    expect(call(m, [2, ...u16(0), ...u16(0)])).toEqual([0x82, 3]);
    expect(call(m, [3, ...u16(65535), ...u16(1)])).toEqual([3, 2, 0, 0]);
    expect(call(m, [3, ...u16(65535), ...u16(2)])).toEqual([0x83, 2]);
    expect(call(m, [1, ...u16(65000), ...u16(1000)])).toEqual([0x81, 2]);
    // Quantity is checked before the address, as the spec's state diagram does.
    expect(call(m, [3, ...u16(65535), ...u16(200)])).toEqual([0x83, 3]);
  });

  it("answers a truncated or padded PDU with 03", () => {
    const m = new UnitMemory();
    expect(call(m, [3, 0, 0])).toEqual([0x83, 3]);
    expect(call(m, [3, 0, 0, 0, 1, 0])).toEqual([0x83, 3]);
    expect(call(m, [16, 0, 0])).toEqual([0x90, 3]);
  });

  it("answers unknown function codes with 01", () => {
    const m = new UnitMemory();
    expect(call(m, [7])).toEqual([0x87, 1]);
    expect(call(m, [0x2b, 0x0e, 1, 0])).toEqual([0xab, 1]);
    expect(call(m, [0x83, 0, 0, 0, 1])).toEqual([0x83, 1]);
  });

  it("writes a single coil (FF00/0000 only) and echoes the request", () => {
    const m = new UnitMemory();
    writes.length = 0;
    expect(call(m, [5, ...u16(12), 0xff, 0x00])).toEqual([5, 0, 12, 0xff, 0x00]);
    expect(m.readBits("coil", 12, 1)).toEqual([true]);
    expect(call(m, [5, ...u16(12), 0x00, 0x00])).toEqual([5, 0, 12, 0, 0]);
    expect(m.readBits("coil", 12, 1)).toEqual([false]);
    expect(call(m, [5, ...u16(12), 0x00, 0x01])).toEqual([0x85, 3]);
    expect(writes).toEqual([
      ["coil", 12, 1],
      ["coil", 12, 1],
    ]);
  });

  it("writes a single register and echoes the request", () => {
    const m = new UnitMemory();
    expect(call(m, [6, ...u16(65535), 0xbe, 0xef])).toEqual([6, 0xff, 0xff, 0xbe, 0xef]);
    expect(m.readWords("holding", 65535, 1)).toEqual([0xbeef]);
  });

  it("writes multiple coils within the 1..1968 limit and checks the byte count", () => {
    const m = new UnitMemory();
    writes.length = 0;
    expect(call(m, [15, ...u16(3), ...u16(10), 2, 0b1000_0001, 0b10])).toEqual([15, 0, 3, 0, 10]);
    expect(m.readBits("coil", 3, 10)).toEqual([true, false, false, false, false, false, false, true, false, true]);
    expect(writes).toEqual([["coil", 3, 10]]);
    expect(call(m, [15, ...u16(0), ...u16(1968), 246, ...new Array<number>(246).fill(0xff)])).toEqual([15, 0, 0, ...u16(1968)]);
    expect(m.readBits("coil", 1967, 2)).toEqual([true, false]);
    expect(call(m, [15, ...u16(0), ...u16(1969), 247, ...new Array<number>(247).fill(0)])).toEqual([0x8f, 3]);
    expect(call(m, [15, ...u16(0), ...u16(10), 1, 0])).toEqual([0x8f, 3]); // byte count too small
    expect(call(m, [15, ...u16(0), ...u16(8), 1])).toEqual([0x8f, 3]); // data missing
    expect(call(m, [15, ...u16(65535), ...u16(2), 1, 3])).toEqual([0x8f, 2]);
  });

  it("writes multiple registers within the 1..123 limit and checks the byte count", () => {
    const m = new UnitMemory();
    expect(call(m, [16, ...u16(20), ...u16(3), 6, 0, 1, 0, 2, 0xff, 0xff])).toEqual([16, 0, 20, 0, 3]);
    expect(m.readWords("holding", 20, 3)).toEqual([1, 2, 0xffff]);
    const data123 = new Array<number>(246).fill(1);
    expect(call(m, [16, ...u16(0), ...u16(123), 246, ...data123])).toEqual([16, 0, 0, 0, 123]);
    expect(call(m, [16, ...u16(0), ...u16(124), 248, ...new Array<number>(248).fill(0)])).toEqual([0x90, 3]);
    expect(call(m, [16, ...u16(0), ...u16(0), 0])).toEqual([0x90, 3]);
    expect(call(m, [16, ...u16(0), ...u16(2), 3, 0, 1, 0])).toEqual([0x90, 3]);
    expect(call(m, [16, ...u16(65535), ...u16(2), 4, 0, 1, 0, 2])).toEqual([0x90, 2]);
    // A rejected write changes nothing.
    expect(m.readWords("holding", 65535, 1)).toEqual([0]);
  });
});
