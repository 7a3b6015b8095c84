import { describe, expect, it } from "vitest";
import { DataType, DataValue, StatusCodes, Variant, VariantArrayType } from "node-opcua-client";
import { qualityOf, sampleValueOf, toSample, toVariant } from "../../../edge/drivers/opcua/values.js";

const u64 = (v: bigint) => new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [Number(v >> 32n), Number(v & 0xffffffffn)] });
const i64 = (v: bigint) => {
  const u = BigInt.asUintN(64, v);
  return new Variant({ dataType: DataType.Int64, arrayType: VariantArrayType.Scalar, value: [Number(u >> 32n) | 0, Number(u & 0xffffffffn)] });
};

describe("OPC UA values to samples", () => {
  it("maps the status code severity to quality", () => {
    expect(qualityOf(StatusCodes.Good)).toBe("good");
    expect(qualityOf(StatusCodes.GoodClamped)).toBe("good");
    expect(qualityOf(StatusCodes.UncertainLastUsableValue)).toBe("uncertain");
    expect(qualityOf(StatusCodes.BadSensorFailure)).toBe("bad");
    expect(qualityOf(StatusCodes.BadNodeIdUnknown)).toBe("bad");
  });

  it("keeps the source timestamp, then the server timestamp, as ts", () => {
    const v = new Variant({ dataType: DataType.Double, value: 21.5 });
    expect(toSample("p", new DataValue({ value: v, sourceTimestamp: new Date(1000), serverTimestamp: new Date(2000) }), 9)).toEqual({ point: "p", ts: 1000, value: 21.5, quality: "good" });
    expect(toSample("p", new DataValue({ value: v, serverTimestamp: new Date(2000) }), 9).ts).toBe(2000);
    expect(toSample("p", new DataValue({ value: v }), 9).ts).toBe(9);
  });

  it("drops the value of a bad sample and names the status; keeps it for uncertain", () => {
    const v = new Variant({ dataType: DataType.Double, value: 3 });
    expect(toSample("p", new DataValue({ value: v, statusCode: StatusCodes.BadCommunicationError }), 1)).toEqual({ point: "p", ts: 1, value: null, quality: "bad", reason: "BadCommunicationError" });
    expect(toSample("p", new DataValue({ value: v, statusCode: StatusCodes.UncertainSensorNotAccurate }), 1)).toMatchObject({ value: 3, quality: "uncertain", reason: "UncertainSensorNotAccurate" });
    expect(toSample("p", new DataValue({ statusCode: StatusCodes.Good }), 1)).toMatchObject({ value: null, quality: "uncertain" });
  });

  it("converts 64-bit integers exactly: numbers while safe, decimal strings beyond 2^53", () => {
    expect(sampleValueOf(u64(42n))).toBe(42);
    expect(sampleValueOf(u64(9007199254740993n))).toBe("9007199254740993");
    expect(sampleValueOf(u64(18446744073709551615n))).toBe("18446744073709551615");
    expect(sampleValueOf(i64(-5n))).toBe(-5);
    expect(sampleValueOf(i64(-9223372036854775808n))).toBe("-9223372036854775808");
  });

  it("converts the other built-in types to sample values", () => {
    expect(sampleValueOf(new Variant({ dataType: DataType.Boolean, value: true }))).toBe(true);
    expect(sampleValueOf(new Variant({ dataType: DataType.String, value: "Idle" }))).toBe("Idle");
    expect(sampleValueOf(new Variant({ dataType: DataType.DateTime, value: new Date(Date.UTC(2024, 0, 2)) }))).toBe("2024-01-02T00:00:00.000Z");
    expect(sampleValueOf(new Variant({ dataType: DataType.ByteString, value: Buffer.from([1, 2, 3]) }))).toBe("AQID");
    expect(sampleValueOf(new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: [1.5, 2] }))).toBe("[1.5,2]");
    expect(sampleValueOf(new Variant({ dataType: DataType.Null }))).toBeNull();
  });
});

describe("sample values to OPC UA variants (writes and method arguments)", () => {
  it("builds the target type", () => {
    expect(toVariant(DataType.Double, 21.5, "p").value).toBe(21.5);
    expect(toVariant(DataType.Float, "3.5", "p").value).toBe(3.5);
    expect(toVariant(DataType.Int16, -3, "p")).toMatchObject({ dataType: DataType.Int16, value: -3 });
    expect(toVariant(DataType.Boolean, 1, "p").value).toBe(true);
    expect(toVariant(DataType.Boolean, "false", "p").value).toBe(false);
    expect(toVariant(DataType.String, "Cola", "p").value).toBe("Cola");
    expect((toVariant(DataType.DateTime, "2024-01-02T00:00:00Z", "p").value as Date).getTime()).toBe(Date.UTC(2024, 0, 2));
    expect(toVariant(DataType.UInt64, "18446744073709551615", "p").value).toEqual([0xffffffff, 0xffffffff]);
    expect(sampleValueOf(toVariant(DataType.Int64, "-9223372036854775808", "p"))).toBe("-9223372036854775808");
    expect(sampleValueOf(toVariant(DataType.Int64, -2, "p"))).toBe(-2);
  });

  it.each([
    [DataType.Int16, 40000, /out of range -32768..32767/],
    [DataType.Byte, -1, /out of range 0..255/],
    [DataType.UInt32, 1.5, /not an integer/],
    [DataType.Double, "warm", /not a number/],
    [DataType.Boolean, "yes", /not a boolean/],
    [DataType.String, 5, /not a string/],
    [DataType.UInt64, "-1", /out of range/],
    [DataType.Int64, 2 ** 60, /not an integer/],
    [DataType.DateTime, "yesterday", /not a date/],
    [DataType.Float, 1e39, /beyond the Float range/],
    [DataType.Guid, "x", /not supported/],
  ])("refuses %s <- %s before sending anything", (type, value, message) => {
    expect(() => toVariant(type, value, "point p")).toThrow(message);
    expect(() => toVariant(type, value, "point p")).toThrow(/point p/);
  });
});
