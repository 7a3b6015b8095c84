import { describe, expect, it } from "vitest";
import { crc16Modbus, hasValidCrc } from "../../../simulators/modbus/crc.js";
import { encodeRtuFrame, MIN_FRAME_TIMEOUT_MS, RtuFrameReader, rtuFrameTimeoutMs } from "../../../simulators/modbus/rtu.js";

/**
 * Request frames with CRCs taken from the Modbus spec and well-known captures, written out by hand so
 * the test does not trust the CRC code under test.
 */
const READ_HOLDING_1_0_1 = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0a]; // unit 1, FC 3, address 0, 1 register
const READ_HOLDING_1_0_10 = [0x01, 0x03, 0x00, 0x00, 0x00, 0x0a, 0xc5, 0xcd]; // unit 1, FC 3, address 0, 10 registers
const WRITE_COIL_17_172_ON = [0x11, 0x05, 0x00, 0xac, 0xff, 0x00, 0x4e, 0x8b]; // spec example: slave 17, coil 173 on

/** CRC-16/MODBUS by the bit-serial definition (no table), to check the table-driven one. */
function referenceCrc(bytes: number[]): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

function withCrc(bytes: number[]): Buffer {
  const crc = referenceCrc(bytes);
  return Buffer.from([...bytes, crc & 0xff, crc >>> 8]);
}

describe("crc16Modbus", () => {
  it("matches known frames (low byte first on the wire)", () => {
    for (const frame of [READ_HOLDING_1_0_1, READ_HOLDING_1_0_10, WRITE_COIL_17_172_ON]) {
      const crc = crc16Modbus(Buffer.from(frame.slice(0, -2)));
      expect([crc & 0xff, crc >>> 8]).toEqual(frame.slice(-2));
      expect(hasValidCrc(Buffer.from(frame))).toBe(true);
    }
    // The catalogue check value of CRC-16/MODBUS.
    expect(crc16Modbus(Buffer.from("123456789", "ascii"))).toBe(0x4b37);
  });

  it("agrees with the bit-serial definition on every byte value", () => {
    const bytes = Array.from({ length: 256 }, (_, i) => i);
    expect(crc16Modbus(Buffer.from(bytes))).toBe(referenceCrc(bytes));
    for (let b = 0; b < 256; b++) expect(crc16Modbus(Buffer.from([b]))).toBe(referenceCrc([b]));
  });

  it("rejects a frame with one flipped bit", () => {
    const bad = Buffer.from(READ_HOLDING_1_0_1);
    bad[3] = (bad[3] ?? 0) ^ 0x01;
    expect(hasValidCrc(bad)).toBe(false);
  });
});

describe("RtuFrameReader", () => {
  it("cuts fixed-length requests (FC 1-6: 8 bytes), several in one chunk", () => {
    const r = new RtuFrameReader();
    const { frames, crcErrors, framingErrors } = r.push(Buffer.from([...READ_HOLDING_1_0_1, ...WRITE_COIL_17_172_ON]));
    expect(frames.map((f) => [f.unitId, [...f.pdu]])).toEqual([
      [1, [3, 0, 0, 0, 1]],
      [17, [5, 0, 0xac, 0xff, 0]],
    ]);
    expect([crcErrors, framingErrors, r.bufferedBytes]).toEqual([0, 0, 0]);
  });

  it("reads FC 15/16 lengths from the byte count and reassembles split chunks", () => {
    const r = new RtuFrameReader();
    const fc16 = withCrc([2, 16, 0, 10, 0, 2, 4, 0x12, 0x34, 0x56, 0x78]); // 9 + 4 bytes
    expect(fc16).toHaveLength(13);
    for (let i = 0; i < fc16.length - 1; i++) expect(r.push(fc16.subarray(i, i + 1)).frames).toEqual([]);
    const { frames } = r.push(fc16.subarray(fc16.length - 1));
    expect(frames.map((f) => [f.unitId, [...f.pdu]])).toEqual([[2, [16, 0, 10, 0, 2, 4, 0x12, 0x34, 0x56, 0x78]]]);

    const fc15 = withCrc([1, 15, 0, 0, 0, 10, 2, 0xff, 0x03]);
    const tail = Buffer.from(READ_HOLDING_1_0_1);
    const out = r.push(Buffer.concat([fc15, tail.subarray(0, 3)]));
    expect(out.frames.map((f) => f.pdu[0])).toEqual([15]);
    expect(r.push(tail.subarray(3)).frames.map((f) => f.pdu[0])).toEqual([3]);
  });

  it("discards a frame with a bad CRC, counts it, and parses the next one", () => {
    const r = new RtuFrameReader();
    const bad = [...READ_HOLDING_1_0_1.slice(0, 6), 0x00, 0x00];
    const { frames, crcErrors } = r.push(Buffer.from([...bad, ...READ_HOLDING_1_0_10]));
    expect(crcErrors).toBe(1);
    expect(frames.map((f) => [...f.pdu])).toEqual([[3, 0, 0, 0, 10]]);
  });

  it("discards a partial frame when the line falls silent", () => {
    const r = new RtuFrameReader();
    expect(r.push(Buffer.from(READ_HOLDING_1_0_1.slice(0, 5))).frames).toEqual([]);
    expect(r.bufferedBytes).toBe(5);
    expect(r.silence()).toEqual({ frames: [], crcErrors: 0, framingErrors: 1 });
    expect(r.bufferedBytes).toBe(0);
    // The next request is read from its first byte on.
    expect(r.push(Buffer.from(READ_HOLDING_1_0_1)).frames).toHaveLength(1);
    expect(r.silence()).toEqual({ frames: [], crcErrors: 0, framingErrors: 0 });
  });

  it("ends a request of an unknown function code at the silence, checking its CRC", () => {
    const r = new RtuFrameReader();
    const custom = withCrc([1, 0x41, 0xaa]);
    expect(r.push(custom).frames).toEqual([]);
    const { frames } = r.silence();
    expect(frames.map((f) => [f.unitId, [...f.pdu]])).toEqual([[1, [0x41, 0xaa]]]);

    expect(r.push(Buffer.from("hello, garbage", "ascii")).frames).toEqual([]);
    expect(r.silence()).toEqual({ frames: [], crcErrors: 1, framingErrors: 0 });
  });

  it("drops a header no request can have (byte count past the 256-byte frame)", () => {
    const r = new RtuFrameReader();
    const { framingErrors } = r.push(Buffer.from([1, 16, 0, 0, 0, 125, 250]));
    expect(framingErrors).toBe(1);
    expect(r.bufferedBytes).toBe(0);
  });
});

describe("encodeRtuFrame", () => {
  it("appends the CRC low byte first, or a wrong one when asked", () => {
    const good = encodeRtuFrame(1, Buffer.from([3, 2, 0, 50]));
    expect([...good.subarray(0, 5)]).toEqual([1, 3, 2, 0, 50]);
    expect([...good]).toEqual([...withCrc([1, 3, 2, 0, 50])]);
    const bad = encodeRtuFrame(1, Buffer.from([3, 2, 0, 50]), true);
    expect([...bad.subarray(0, 5)]).toEqual([1, 3, 2, 0, 50]);
    expect(hasValidCrc(bad)).toBe(false);
  });
});

describe("rtuFrameTimeoutMs", () => {
  it("is 3.5 characters of 11 bits, never below the floor", () => {
    expect(rtuFrameTimeoutMs(300)).toBe(Math.ceil((3.5 * 11 * 1000) / 300)); // 129 ms
    expect(rtuFrameTimeoutMs(1200)).toBe(33);
    expect(rtuFrameTimeoutMs(9600)).toBe(MIN_FRAME_TIMEOUT_MS);
    expect(rtuFrameTimeoutMs(115200)).toBe(MIN_FRAME_TIMEOUT_MS);
  });
});
