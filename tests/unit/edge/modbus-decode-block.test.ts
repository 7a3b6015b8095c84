import { describe, expect, it } from "vitest";
import { decodeBlock } from "../../../edge/drivers/modbus/decode-block.js";
import { planReads } from "../../../edge/drivers/modbus/plan.js";
import { modbusPointSchema, type NumericRegisterType } from "../../../edge/drivers/modbus/config.js";

type Order = "ABCD" | "CDAB" | "BADC" | "DCBA";
const ORDERS: Order[] = ["ABCD", "CDAB", "BADC", "DCBA"];
const WIDTH: Record<NumericRegisterType, number> = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2, int64: 4, uint64: 4, float64: 4 };
const TYPES = Object.keys(WIDTH) as NumericRegisterType[];

/** Reference decoder, written the slow obvious way: words -> bytes in big-endian order -> Buffer reads. */
function reference(words: number[], type: NumericRegisterType, order: Order): number | string | boolean {
  const w = order === "CDAB" || order === "DCBA" ? [...words].reverse() : words;
  const b = Buffer.alloc(w.length * 2);
  w.forEach((x, i) => {
    const hi = (x >> 8) & 0xff;
    const lo = x & 0xff;
    const swap = order === "BADC" || order === "DCBA";
    b[i * 2] = swap ? lo : hi;
    b[i * 2 + 1] = swap ? hi : lo;
  });
  const big = (v: bigint) => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString());
  switch (type) {
    case "int16": return b.readInt16BE(0);
    case "uint16": return b.readUInt16BE(0);
    case "int32": return b.readInt32BE(0);
    case "uint32": return b.readUInt32BE(0);
    case "float32": return b.readFloatBE(0);
    case "float64": return b.readDoubleBE(0);
    case "int64": return big(b.readBigInt64BE(0));
    case "uint64": return big(b.readBigUInt64BE(0));
  }
}

/** Deterministic pseudo-random 16-bit words. */
function words(n: number, seed: number): number[] {
  let x = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) & 0xffff;
  });
}

const point = (p: Record<string, unknown>) => modbusPointSchema.parse(p);

describe("decodeBlock decodes in place, exactly like the byte-wise reference", () => {
  it("every type in every byte order, at every offset of a full 125-register block, over many random blocks", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const data = words(125, seed * 7919);
      const points = [];
      let at = 0;
      let k = 0;
      while (at < 121) {
        const type = TYPES[k % TYPES.length]!;
        const order = ORDERS[Math.floor(k / TYPES.length) % ORDERS.length]!;
        points.push(point({ id: `p${k}`, register: at, type, byteOrder: order }));
        at += WIDTH[type] + ((seed + k) % 2); // some gaps, some back to back
        k++;
      }
      const [block, ...rest] = planReads(points, 16);
      expect(rest).toHaveLength(0);
      const samples = decodeBlock(block!, data, 5);
      for (const s of samples) {
        const p = points.find((q) => q.id === s.point)!;
        const type = p.type as NumericRegisterType;
        const expected = reference(data.slice(p.register - block!.start, p.register - block!.start + WIDTH[type]), type, p.byteOrder);
        if (typeof expected === "number" && Number.isNaN(expected)) expect(s.value).toBeNaN();
        else expect(s.value, `${p.id} ${type} ${p.byteOrder}`).toBe(expected);
      }
      expect(samples.every((s) => s.ts === 5 && s.quality === "good")).toBe(true);
    }
  });

  it("64-bit integers at the edges of exact numbers: numbers within ±(2^53 - 1), decimal strings beyond", () => {
    const cases: Array<[NumericRegisterType, bigint]> = [
      ["int64", 2n ** 53n - 1n],
      ["int64", 2n ** 53n],
      ["int64", -(2n ** 53n) + 1n],
      ["int64", -(2n ** 53n)],
      ["int64", -(2n ** 53n) - 1n],
      ["int64", -1n],
      ["int64", 2n ** 63n - 1n],
      ["int64", -(2n ** 63n)],
      ["int64", -(2n ** 32n)],
      ["uint64", 2n ** 53n - 1n],
      ["uint64", 2n ** 53n],
      ["uint64", 2n ** 64n - 1n],
      ["uint64", 2n ** 32n],
    ];
    for (const [type, v] of cases) {
      const b = Buffer.alloc(8);
      if (type === "int64") b.writeBigInt64BE(v);
      else b.writeBigUInt64BE(v);
      const regs = [b.readUInt16BE(0), b.readUInt16BE(2), b.readUInt16BE(4), b.readUInt16BE(6)];
      const [block] = planReads([point({ id: "x", register: 0, type })], 0);
      const value = decodeBlock(block!, regs, 0)[0]!.value;
      const safe = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);
      expect(value, `${type} ${v}`).toBe(safe ? Number(v) : v.toString());
    }
  });

  it("register bits, strings, and coil blocks", () => {
    const pts = [
      point({ id: "b0", register: 0, type: "bool", bit: 0 }),
      point({ id: "b15", register: 0, type: "bool", bit: 15 }),
      point({ id: "b3", register: 0, type: "bool", bit: 3 }),
      point({ id: "s", register: 1, type: "string", length: 3 }),
      point({ id: "sw", register: 4, type: "string", length: 2, byteOrder: "BADC" }),
      point({ id: "u", register: 6, type: "uint16", byteOrder: "BADC" }),
      point({ id: "i", register: 7, type: "int16", byteOrder: "CDAB" }),
    ];
    const [block] = planReads(pts, 16);
    // "AB", "C ", "\0\0" | "ba","dc" swapped | 0x1234 | 0xfffe
    const data = [0b1000_0000_0000_1001, 0x4142, 0x4320, 0x0000, 0x6261, 0x6463, 0x1234, 0xfffe];
    const byId = Object.fromEntries(decodeBlock(block!, data, 0).map((s) => [s.point, s.value]));
    expect(byId).toEqual({ b0: true, b15: true, b3: true, s: "ABC", sw: "abcd", u: 0x3412, i: -2 });

    const coils = [point({ id: "c0", table: "coil", register: 10 }), point({ id: "c2", table: "coil", register: 12 })];
    const [cb] = planReads(coils, 16);
    const out = decodeBlock(cb!, [true, true, false], 9);
    expect(out.map((s) => [s.point, s.value])).toEqual([
      ["c0", true],
      ["c2", false],
    ]);
  });

  it("appends to the array it is given", () => {
    const [block] = planReads([point({ id: "a", register: 0 }), point({ id: "b", register: 1 })], 16);
    const out = [{ point: "before", ts: 0, value: 1, quality: "good" as const }];
    expect(decodeBlock(block!, [7, 8], 1, out)).toBe(out);
    expect(out.map((s) => s.value)).toEqual([1, 7, 8]);
  });
});
