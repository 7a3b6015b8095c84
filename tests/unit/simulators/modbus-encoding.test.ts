import { describe, expect, it } from "vitest";
import { BYTE_ORDERS, decodeValue, encodeValue, wordCount, type ValueType } from "../../../simulators/modbus/encoding.js";

describe("encodeValue", () => {
  it("lays out float32 1.5 (0x3FC00000) in each byte order", () => {
    expect(encodeValue("float32", "ABCD", 1.5)).toEqual([0x3fc0, 0x0000]);
    expect(encodeValue("float32", "CDAB", 1.5)).toEqual([0x0000, 0x3fc0]);
    expect(encodeValue("float32", "BADC", 1.5)).toEqual([0xc03f, 0x0000]);
    expect(encodeValue("float32", "DCBA", 1.5)).toEqual([0x0000, 0xc03f]);
  });

  it("lays out uint32 0x12345678 in each byte order", () => {
    expect(encodeValue("uint32", "ABCD", 0x12345678)).toEqual([0x1234, 0x5678]);
    expect(encodeValue("uint32", "CDAB", 0x12345678)).toEqual([0x5678, 0x1234]);
    expect(encodeValue("uint32", "BADC", 0x12345678)).toEqual([0x3412, 0x7856]);
    expect(encodeValue("uint32", "DCBA", 0x12345678)).toEqual([0x7856, 0x3412]);
  });

  it("16-bit values only see the byte swap", () => {
    expect(encodeValue("uint16", "ABCD", 0x1234)).toEqual([0x1234]);
    expect(encodeValue("uint16", "CDAB", 0x1234)).toEqual([0x1234]);
    expect(encodeValue("uint16", "BADC", 0x1234)).toEqual([0x3412]);
    expect(encodeValue("uint16", "DCBA", 0x1234)).toEqual([0x3412]);
  });

  it("encodes signed integers as two's complement", () => {
    expect(encodeValue("int16", "ABCD", -2)).toEqual([0xfffe]);
    expect(encodeValue("int32", "ABCD", -100000)).toEqual([0xfffe, 0x7960]);
    expect(encodeValue("int64", "ABCD", -1n)).toEqual([0xffff, 0xffff, 0xffff, 0xffff]);
  });

  it("encodes int64/uint64 beyond 2^53 exactly", () => {
    // 2^53 + 1 = 0x0020_0000_0000_0001 is not representable as a double.
    expect(encodeValue("int64", "ABCD", 9007199254740993n)).toEqual([0x0020, 0x0000, 0x0000, 0x0001]);
    expect(encodeValue("uint64", "CDAB", 9007199254740993n)).toEqual([0x0001, 0x0000, 0x0000, 0x0020]);
    expect(encodeValue("uint64", "BADC", 0x0102030405060708n)).toEqual([0x0201, 0x0403, 0x0605, 0x0807]);
    expect(encodeValue("uint64", "DCBA", 0x0102030405060708n)).toEqual([0x0807, 0x0605, 0x0403, 0x0201]);
    expect(encodeValue("uint64", "ABCD", 2n ** 64n - 1n)).toEqual([0xffff, 0xffff, 0xffff, 0xffff]);
  });

  it("encodes float64", () => {
    expect(encodeValue("float64", "ABCD", 1.5)).toEqual([0x3ff8, 0, 0, 0]);
    expect(encodeValue("float64", "DCBA", 1.5)).toEqual([0, 0, 0, 0xf83f]);
  });

  it("wraps integers at the type's width and rounds fractions", () => {
    expect(encodeValue("uint16", "ABCD", 65536)).toEqual([0]);
    expect(encodeValue("uint16", "ABCD", 70000)).toEqual([70000 - 65536]);
    expect(encodeValue("uint32", "ABCD", 2n ** 32n + 5n)).toEqual([0, 5]);
    expect(encodeValue("int16", "ABCD", 32768)).toEqual([0x8000]);
    expect(encodeValue("uint16", "ABCD", 49.6)).toEqual([50]);
    expect(encodeValue("int16", "ABCD", true)).toEqual([1]);
    expect(encodeValue("uint16", "ABCD", Number.NaN)).toEqual([0]);
  });
});

describe("string", () => {
  it("packs two ASCII characters per register, high byte first, NUL padded", () => {
    // "ABC" = 0x41 0x42 0x43: [0x4142, 0x4300, 0x0000]
    expect(encodeValue("string", "ABCD", "ABC", 3)).toEqual([0x4142, 0x4300, 0x0000]);
    expect(encodeValue("string", "CDAB", "ABC", 3)).toEqual([0x4142, 0x4300, 0x0000]);
  });

  it("puts the low byte first for BADC and DCBA, never reverses the registers", () => {
    expect(encodeValue("string", "BADC", "ABC", 3)).toEqual([0x4241, 0x0043, 0x0000]);
    expect(encodeValue("string", "DCBA", "ABC", 3)).toEqual([0x4241, 0x0043, 0x0000]);
  });

  it("cuts long text, replaces non-ASCII, renders numbers as text", () => {
    expect(encodeValue("string", "ABCD", "ABCDEF", 2)).toEqual([0x4142, 0x4344]);
    expect(encodeValue("string", "ABCD", "é!", 1)).toEqual([0x3f21]);
    expect(encodeValue("string", "ABCD", 42, 1)).toEqual([0x3432]);
    expect(encodeValue("string", "ABCD", 18446744073709551615n, 10)).toEqual(encodeValue("string", "ABCD", "18446744073709551615", 10));
  });

  it("round-trips in every order and stops at the first NUL", () => {
    for (const order of BYTE_ORDERS) {
      for (const text of ["", "A", "EDGE-AGENT v1", "0123456789"]) {
        const words = encodeValue("string", order, text, 7);
        expect(words).toHaveLength(7);
        expect(decodeValue("string", order, words)).toBe(text);
      }
    }
  });

  it("needs a length", () => {
    expect(() => encodeValue("string", "ABCD", "x")).toThrow(RangeError);
    expect(wordCount("string", 7)).toBe(7);
    expect(() => wordCount("string")).toThrow(RangeError);
  });
});

describe("decodeValue", () => {
  const samples: Record<Exclude<ValueType, "bool" | "string">, (number | bigint)[]> = {
    int16: [-32768, -1, 0, 12345, 32767],
    uint16: [0, 1, 0xbeef, 65535],
    int32: [-2147483648, -100000, 0, 2147483647],
    uint32: [0, 0x12345678, 4294967295],
    float32: [0, 1.5, -273.15, 3.4e38],
    int64: [-(2n ** 63n), -1n, 0n, 9007199254740993n, 2n ** 63n - 1n],
    uint64: [0n, 9007199254740993n, 2n ** 64n - 1n],
    float64: [0, Math.PI, -1e300],
  };

  for (const [type, values] of Object.entries(samples) as [Exclude<ValueType, "bool" | "string">, (number | bigint)[]][]) {
    for (const order of BYTE_ORDERS) {
      it(`round-trips ${type} in ${order}`, () => {
        for (const value of values) {
          const words = encodeValue(type, order, value);
          expect(words).toHaveLength(wordCount(type));
          const back = decodeValue(type, order, words);
          if (type === "float32") expect(back).toBe(Math.fround(Number(value)));
          else expect(back).toBe(value);
        }
      });
    }
  }

  it("rejects the wrong number of words", () => {
    expect(() => decodeValue("float32", "ABCD", [1])).toThrow(RangeError);
  });
});
