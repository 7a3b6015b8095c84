import { describe, expect, it } from "vitest";
import { decodeRegisters, encodeRegisters } from "../../../edge/drivers/modbus/codec.js";
import type { NumericRegisterType } from "../../../edge/drivers/modbus/config.js";
import { encodeValue } from "../../../simulators/modbus/encoding.js";

type Order = "ABCD" | "CDAB" | "BADC" | "DCBA";
const ORDERS: Order[] = ["ABCD", "CDAB", "BADC", "DCBA"];
const TYPES: NumericRegisterType[] = ["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64"];

/**
 * Where each byte of the big-endian value goes, written out by hand for every order and width
 * (index = position in the register stream, value = index of the big-endian byte A=0, B=1, ...).
 */
const LAYOUT: Record<number, Record<Order, number[]>> = {
  2: { ABCD: [0, 1], CDAB: [0, 1], BADC: [1, 0], DCBA: [1, 0] },
  4: { ABCD: [0, 1, 2, 3], CDAB: [2, 3, 0, 1], BADC: [1, 0, 3, 2], DCBA: [3, 2, 1, 0] },
  8: {
    ABCD: [0, 1, 2, 3, 4, 5, 6, 7],
    CDAB: [6, 7, 4, 5, 2, 3, 0, 1],
    BADC: [1, 0, 3, 2, 5, 4, 7, 6],
    DCBA: [7, 6, 5, 4, 3, 2, 1, 0],
  },
};

/** Big-endian bytes -> register words in the given order, via the hand-written layout table. */
function wordsFromBigEndian(be: Buffer, order: Order): number[] {
  const layout = LAYOUT[be.length]![order];
  const words: number[] = [];
  for (let i = 0; i < layout.length; i += 2) words.push((be[layout[i]!]! << 8) | be[layout[i + 1]!]!);
  return words;
}

function be(type: NumericRegisterType, value: number | bigint): Buffer {
  const widths: Record<NumericRegisterType, number> = {
    int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, int64: 8, uint64: 8, float64: 8,
  };
  const b = Buffer.alloc(widths[type]);
  switch (type) {
    case "int16": b.writeInt16BE(Number(value)); break;
    case "uint16": b.writeUInt16BE(Number(value)); break;
    case "int32": b.writeInt32BE(Number(value)); break;
    case "uint32": b.writeUInt32BE(Number(value)); break;
    case "float32": b.writeFloatBE(Number(value)); break;
    case "float64": b.writeDoubleBE(Number(value)); break;
    case "int64": b.writeBigInt64BE(BigInt(value)); break;
    case "uint64": b.writeBigUInt64BE(BigInt(value)); break;
  }
  return b;
}

describe("literal register vectors", () => {
  const cases: Array<{ type: NumericRegisterType; value: number | string; words: Record<Order, number[]> }> = [
    { type: "int16", value: -2, words: { ABCD: [0xfffe], CDAB: [0xfffe], BADC: [0xfeff], DCBA: [0xfeff] } },
    { type: "int16", value: 0x1234, words: { ABCD: [0x1234], CDAB: [0x1234], BADC: [0x3412], DCBA: [0x3412] } },
    { type: "uint16", value: 0xabcd, words: { ABCD: [0xabcd], CDAB: [0xabcd], BADC: [0xcdab], DCBA: [0xcdab] } },
    {
      type: "float32",
      value: 1.5,
      words: { ABCD: [0x3fc0, 0x0000], CDAB: [0x0000, 0x3fc0], BADC: [0xc03f, 0x0000], DCBA: [0x0000, 0xc03f] },
    },
    {
      type: "uint32",
      value: 0x12345678,
      words: { ABCD: [0x1234, 0x5678], CDAB: [0x5678, 0x1234], BADC: [0x3412, 0x7856], DCBA: [0x7856, 0x3412] },
    },
    {
      type: "uint32",
      value: 0xdeadbeef,
      words: { ABCD: [0xdead, 0xbeef], CDAB: [0xbeef, 0xdead], BADC: [0xadde, 0xefbe], DCBA: [0xefbe, 0xadde] },
    },
    {
      type: "int32",
      value: -2,
      words: { ABCD: [0xffff, 0xfffe], CDAB: [0xfffe, 0xffff], BADC: [0xffff, 0xfeff], DCBA: [0xfeff, 0xffff] },
    },
    {
      type: "float64",
      value: 1.5, // 0x3FF8 0000 0000 0000
      words: {
        ABCD: [0x3ff8, 0, 0, 0],
        CDAB: [0, 0, 0, 0x3ff8],
        BADC: [0xf83f, 0, 0, 0],
        DCBA: [0, 0, 0, 0xf83f],
      },
    },
    {
      type: "uint64",
      value: "72623859790382856", // 0x0102030405060708 > 2^53
      words: {
        ABCD: [0x0102, 0x0304, 0x0506, 0x0708],
        CDAB: [0x0708, 0x0506, 0x0304, 0x0102],
        BADC: [0x0201, 0x0403, 0x0605, 0x0807],
        DCBA: [0x0807, 0x0605, 0x0403, 0x0201],
      },
    },
    {
      type: "int64",
      value: -2,
      words: {
        ABCD: [0xffff, 0xffff, 0xffff, 0xfffe],
        CDAB: [0xfffe, 0xffff, 0xffff, 0xffff],
        BADC: [0xffff, 0xffff, 0xffff, 0xfeff],
        DCBA: [0xfeff, 0xffff, 0xffff, 0xffff],
      },
    },
  ];

  for (const c of cases) {
    for (const order of ORDERS) {
      it(`${c.type} ${c.value} in ${order}`, () => {
        expect(encodeRegisters(c.value, c.type, order)).toEqual(c.words[order]);
        expect(decodeRegisters(c.words[order], c.type, order)).toEqual(c.value);
      });
    }
  }
});

describe("every type x every byte order against independently permuted big-endian bytes", () => {
  const samples: Record<NumericRegisterType, Array<number | bigint>> = {
    int16: [0, 1, -1, 12345, -12345, 32767, -32768],
    uint16: [0, 1, 0x00ff, 0xff00, 40000, 65535],
    int32: [0, -1, 0x01020304, -123456789, 2147483647, -2147483648],
    uint32: [0, 1, 0x01020304, 3000000000, 4294967295],
    float32: [0, -0, 1.5, -2.75, 3.1415927410125732, 1e-30, 6.5e20, Infinity, -Infinity],
    float64: [0, Math.PI, -Math.E, 1e300, -5e-324, Number.MAX_VALUE, Infinity],
    int64: [0n, -1n, 0x0102030405060708n, 9007199254740991n, -9007199254740991n, 2n ** 63n - 1n, -(2n ** 63n)],
    uint64: [0n, 1n, 0x0102030405060708n, 9007199254740991n, 9007199254740993n, 2n ** 64n - 1n],
  };

  for (const type of TYPES) {
    for (const order of ORDERS) {
      it(`${type} ${order}`, () => {
        for (const v of samples[type]) {
          const words = wordsFromBigEndian(be(type, v), order);
          const expected =
            typeof v === "bigint"
              ? v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n
                ? Number(v)
                : v.toString()
              : type === "float32"
                ? Math.fround(v)
                : v;
          const decoded = decodeRegisters(words, type, order);
          if (typeof expected === "number" && Object.is(expected, -0)) expect(Object.is(decoded, -0)).toBe(true);
          else expect(decoded).toStrictEqual(expected);
          // encode is the exact inverse: the same words come back
          expect(encodeRegisters(typeof v === "bigint" ? v.toString() : v, type, order)).toEqual(words);
        }
      });
    }
  }

  // Interop: the driver must read back exactly what the bundled simulator (a stand-in for a PLC) holds.
  it("agrees with the simulator's encoder for every type and order", () => {
    for (const type of TYPES) {
      for (const order of ORDERS) {
        for (const v of samples[type]) {
          if (typeof v === "number" && !Number.isFinite(v)) continue;
          const words = encodeRegisters(typeof v === "bigint" ? v.toString() : v, type, order);
          expect(encodeValue(type, order, v), `${type} ${order} ${v}`).toEqual(words);
        }
      }
    }
  });

  it("NaN decodes as NaN in every order", () => {
    for (const order of ORDERS) {
      expect(decodeRegisters(wordsFromBigEndian(be("float32", NaN), order), "float32", order)).toBeNaN();
      expect(decodeRegisters(wordsFromBigEndian(be("float64", NaN), order), "float64", order)).toBeNaN();
    }
  });
});

describe("decode result types", () => {
  it("the same bytes decode differently by type (signed vs unsigned)", () => {
    expect(decodeRegisters([0xffff], "int16", "ABCD")).toBe(-1);
    expect(decodeRegisters([0xffff], "uint16", "ABCD")).toBe(65535);
    expect(decodeRegisters([0x8000, 0x0000], "int32", "ABCD")).toBe(-2147483648);
    expect(decodeRegisters([0x8000, 0x0000], "uint32", "ABCD")).toBe(2147483648);
  });

  it("float32 returns the single-precision value (no extra rounding)", () => {
    const words = encodeRegisters(0.1, "float32", "ABCD");
    expect(words).toEqual([0x3dcc, 0xcccd]);
    expect(decodeRegisters(words, "float32", "ABCD")).toBe(Math.fround(0.1));
  });

  it("uint64/int64 beyond 2^53 come back as exact decimal strings", () => {
    expect(decodeRegisters([0x0020, 0x0000, 0x0000, 0x0001], "uint64", "ABCD")).toBe("9007199254740993");
    expect(decodeRegisters([0x0020, 0x0000, 0x0000, 0x0001], "int64", "ABCD")).toBe("9007199254740993");
    expect(decodeRegisters([0x0020, 0x0000, 0x0000, 0x0000], "uint64", "ABCD")).toBe("9007199254740992");
    expect(decodeRegisters([0xffff, 0xffff, 0xffff, 0xffff], "uint64", "ABCD")).toBe("18446744073709551615");
    expect(decodeRegisters([0x8000, 0x0000, 0x0000, 0x0000], "int64", "ABCD")).toBe("-9223372036854775808");
    expect(decodeRegisters([0x7fff, 0xffff, 0xffff, 0xffff], "int64", "ABCD")).toBe("9223372036854775807");
    // -(2^53) is one past the safe range
    expect(decodeRegisters([0xffe0, 0x0000, 0x0000, 0x0000], "int64", "ABCD")).toBe("-9007199254740992");
    // the same in a swapped order
    expect(decodeRegisters([0x0001, 0x0000, 0x0000, 0x0020], "uint64", "CDAB")).toBe("9007199254740993");
    expect(decodeRegisters([0x0100, 0x0000, 0x0000, 0x2000], "uint64", "DCBA")).toBe("9007199254740993");
  });

  it("uint64/int64 within 2^53 come back as numbers", () => {
    const max = decodeRegisters([0x001f, 0xffff, 0xffff, 0xffff], "uint64", "ABCD");
    expect(max).toBe(9007199254740991);
    expect(typeof max).toBe("number");
    expect(decodeRegisters([0xffe0, 0x0000, 0x0000, 0x0001], "int64", "ABCD")).toBe(-9007199254740991);
    expect(decodeRegisters([0xffff, 0xffff, 0xffff, 0xffff], "int64", "ABCD")).toBe(-1);
    expect(decodeRegisters([0, 0, 0, 42], "uint64", "ABCD")).toBe(42);
  });

  it("64-bit strings round-trip through encode", () => {
    for (const order of ORDERS) {
      for (const s of ["9007199254740993", "18446744073709551615", "12345678901234567890"]) {
        expect(decodeRegisters(encodeRegisters(s, "uint64", order), "uint64", order)).toBe(s);
      }
      for (const s of ["-9223372036854775808", "9223372036854775807", "-9007199254740993"]) {
        expect(decodeRegisters(encodeRegisters(s, "int64", order), "int64", order)).toBe(s);
      }
    }
  });

  it("numeric strings within range encode like the number", () => {
    expect(encodeRegisters("-2", "int16", "ABCD")).toEqual([0xfffe]);
    expect(encodeRegisters("42", "uint64", "ABCD")).toEqual([0, 0, 0, 42]);
    expect(encodeRegisters("1.5", "float32", "ABCD")).toEqual([0x3fc0, 0x0000]);
  });
});

describe("encode range checks", () => {
  const limits: Array<{ type: NumericRegisterType; min: string; max: string; below: number | string; above: number | string }> = [
    { type: "int16", min: "-32768", max: "32767", below: -32769, above: 32768 },
    { type: "uint16", min: "0", max: "65535", below: -1, above: 65536 },
    { type: "int32", min: "-2147483648", max: "2147483647", below: -2147483649, above: 2147483648 },
    { type: "uint32", min: "0", max: "4294967295", below: -1, above: 4294967296 },
    {
      type: "int64",
      min: "-9223372036854775808",
      max: "9223372036854775807",
      below: "-9223372036854775809",
      above: "9223372036854775808",
    },
    { type: "uint64", min: "0", max: "18446744073709551615", below: "-1", above: "18446744073709551616" },
  ];

  for (const l of limits) {
    it(`${l.type} rejects values outside ${l.min}..${l.max} with a RangeError naming the limits`, () => {
      for (const bad of [l.below, l.above]) {
        let caught: unknown;
        try {
          encodeRegisters(bad, l.type, "ABCD");
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(RangeError);
        const message = (caught as Error).message;
        expect(message).toContain(l.type);
        expect(message).toContain(`${l.min}..${l.max}`);
        expect(message).toContain(String(bad));
      }
      // the limits themselves are accepted
      expect(() => encodeRegisters(l.min, l.type, "DCBA")).not.toThrow();
      expect(() => encodeRegisters(l.max, l.type, "DCBA")).not.toThrow();
    });
  }

  it("a 64-bit number beyond the range is refused too (no silent wrap)", () => {
    expect(() => encodeRegisters(2 ** 64, "uint64", "ABCD")).toThrow(RangeError);
    expect(() => encodeRegisters(-(2 ** 63) - 4096, "int64", "ABCD")).toThrow(RangeError);
  });

  it("float types refuse strings that are not numbers instead of writing NaN", () => {
    for (const type of ["float32", "float64"] as const) {
      for (const bad of ["abc", "", "  ", "1.5x"]) {
        expect(() => encodeRegisters(bad, type, "ABCD"), `${type} ${JSON.stringify(bad)}`).toThrow(RangeError);
      }
      expect(decodeRegisters(encodeRegisters("-2.5e3", type, "ABCD"), type, "ABCD")).toBe(-2500);
    }
  });

  it("float32 refuses a finite value too large for single precision instead of writing Infinity", () => {
    expect(() => encodeRegisters(1e39, "float32", "ABCD")).toThrow(RangeError);
    expect(() => encodeRegisters(-1e39, "float32", "ABCD")).toThrow(/float32/);
    // the largest float32 itself is fine
    expect(decodeRegisters(encodeRegisters(3.4028234663852886e38, "float32", "ABCD"), "float32", "ABCD")).toBe(
      3.4028234663852886e38,
    );
  });

  it("integer types refuse non-integers with a RangeError", () => {
    for (const type of ["int16", "uint16", "int32", "uint32", "int64", "uint64"] as const) {
      for (const bad of [1.5, -0.25, NaN, Infinity, -Infinity, "1.5", "abc", "", "1e3", " 7"]) {
        expect(() => encodeRegisters(bad, type, "ABCD"), `${type} ${String(bad)}`).toThrow(RangeError);
      }
      expect(() => encodeRegisters(1.5, type, "ABCD")).toThrow(/integer.*1\.5/);
    }
  });
});
