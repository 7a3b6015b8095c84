import { describe, expect, it } from "vitest";
import { MetricCatalog } from "../../../edge/uplink/sparkplug/catalog.js";
import { dataMessages, dataPayload, OUTBOX_BODY_UUID } from "../../../edge/uplink/sparkplug/data.js";
import { deviceBirth, nodeBirth, nodeDeath } from "../../../edge/uplink/sparkplug/births.js";
import { decodeCommand, encodePayload } from "../../../edge/uplink/sparkplug/payload.js";
import { sparkplugConfigSchema } from "../../../edge/uplink/sparkplug/config.js";
import type { OutboxBatch } from "../../../edge/store/outbox.js";
import { protocDecode, type DecodedMetric } from "../../helpers/protoc-sparkplug.js";

const T0 = 1_700_000_000_000;
const DT = { Int64: 4, UInt64: 8, Double: 10, Boolean: 11, String: 12 };

const catalog = () =>
  new MetricCatalog([
    {
      deviceId: "plc-1",
      metrics: [
        { point: "temp", name: "Temperature", datatype: "number", unit: "°C" },
        { point: "run", name: "Running", datatype: "boolean" },
        { point: "label", name: "Recipe", datatype: "string" },
        { point: "energy", name: "Energy/Total", datatype: "int64" },
        { point: "neg", name: "Offset", datatype: "int64" },
        { point: "ctr", name: "Counter", datatype: "uint64" },
      ],
    },
  ]);

function row(firstSeq: number, records: object[], kind: OutboxBatch["kind"] = "telemetry"): OutboxBatch {
  const body = JSON.stringify(records.map((r, i) => ({ seq: firstSeq + i, ...r })));
  return { firstSeq, count: records.length, kind, body };
}

const sample = (point: string, value: unknown, extra: object = {}) => ({ point, ts: T0, value, quality: "good", ...extra });

describe("Sparkplug payloads, decoded independently with protoc", () => {
  it("DDATA carries every datatype by alias only, 64-bit integers exact, bad quality as is_null + Quality 0", async () => {
    const c = catalog();
    const rows = [
      row(1, [
        sample("temp", 21.5),
        sample("run", true),
        sample("label", "PVC-3 ünï"),
        sample("energy", "9223372036854775807"),
        sample("neg", "-9223372036854775808"),
        sample("ctr", "18446744073709551615"),
        sample("energy", 42),
        { point: "temp", ts: T0, value: null, quality: "bad", reason: "timeout" },
        sample("temp", "12345678901234567890"),
        { point: "run", ts: T0, value: false, quality: "uncertain" },
      ]),
    ];
    const { messages, unmapped, malformed } = dataMessages(rows, c, T0 - 1);
    expect({ unmapped, malformed, count: messages.length }).toEqual({ unmapped: 0, malformed: 0, count: 1 });
    const msg = messages[0];
    if (!msg) throw new Error("no message");
    expect(msg.deviceId).toBe("plc-1");
    const decoded = await protocDecode(encodePayload(dataPayload(msg, "epoch-1", 7, T0 + 5)));
    expect(decoded.seq).toBe(7);
    expect(decoded.timestamp).toBe(BigInt(T0 + 5));
    expect(decoded.uuid).toBe(OUTBOX_BODY_UUID);
    expect(JSON.parse(decoded.body ?? "")).toEqual({ epoch: "epoch-1", seqs: { first: 1, last: 10 } });
    const m = decoded.metrics;
    expect(m).toHaveLength(10);
    for (const [i, metric] of m.entries()) {
      expect(metric.name).toBeUndefined();
      expect(metric.datatype).toBeUndefined();
      expect(metric.isHistorical).toBe(false);
      expect(metric.timestamp).toBe(BigInt(T0));
      expect(metric.properties.seq).toEqual({ type: DT.UInt64, value: BigInt(i + 1) });
    }
    const alias = (p: string) => BigInt(c.byPoint(p)?.alias ?? -1);
    const v = (x: DecodedMetric) => [x.alias, x.valueField, x.value];
    expect(v(m[0] as DecodedMetric)).toEqual([alias("temp"), "double_value", 21.5]);
    expect(v(m[1] as DecodedMetric)).toEqual([alias("run"), "boolean_value", true]);
    expect(v(m[2] as DecodedMetric)).toEqual([alias("label"), "string_value", "PVC-3 ünï"]);
    expect(v(m[3] as DecodedMetric)).toEqual([alias("energy"), "long_value", 9223372036854775807n]);
    // Int64 travels in the uint64 field as two's complement.
    expect(m[4]?.valueField).toBe("long_value");
    expect(BigInt.asIntN(64, m[4]?.value as bigint)).toBe(-9223372036854775808n);
    expect(v(m[5] as DecodedMetric)).toEqual([alias("ctr"), "long_value", 18446744073709551615n]);
    expect(v(m[6] as DecodedMetric)).toEqual([alias("energy"), "long_value", 42n]);
    expect(m[7]?.isNull).toBe(true);
    expect(m[7]?.valueField).toBeUndefined();
    expect(m[7]?.properties.Quality).toEqual({ type: 3, value: 0 });
    expect(m[7]?.properties.reason).toEqual({ type: DT.String, value: "timeout" });
    // A big integer for a Double metric would be rounded: refused, sent as a bad null with the reason.
    expect(m[8]).toMatchObject({ isNull: true });
    expect(m[8]?.properties.Quality).toEqual({ type: 3, value: 0 });
    expect(String(m[8]?.properties.reason?.value)).toMatch(/does not fit a Double metric/);
    expect(m[9]?.properties.Quality).toEqual({ type: 3, value: 500 });
    expect(m[0]?.properties.Quality).toBeUndefined();
  });

  it("flags records older than the connection as historical, sends events as NDATA strings, lists non-contiguous seqs", async () => {
    const c = catalog();
    const rows = [
      row(10, [sample("temp", 1, { ts: T0 - 5000 }), { point: "nowhere", ts: T0, value: 1, quality: "good" }]),
      row(12, [{ ts: T0 - 10, type: "driver.down", device: "plc-1" }], "event"),
      row(13, [sample("temp", 2, { ts: T0 + 1 })]),
      { firstSeq: 14, count: 1, kind: "telemetry", body: "[{oops" } satisfies OutboxBatch,
    ];
    const { messages, unmapped, malformed } = dataMessages(rows, c, T0);
    expect({ unmapped, malformed }).toEqual({ unmapped: 1, malformed: 1 });
    const ddata = messages.find((x) => x.deviceId === "plc-1");
    const ndata = messages.find((x) => x.deviceId === null);
    if (!ddata || !ndata) throw new Error("missing message");
    const d = await protocDecode(encodePayload(dataPayload(ddata, "e", 1, T0)));
    expect(d.metrics.map((x) => x.isHistorical)).toEqual([true, false]);
    expect(JSON.parse(d.body ?? "")).toEqual({ epoch: "e", seqs: [10, 13] });
    const n = await protocDecode(encodePayload(dataPayload(ndata, "e", 2, T0)));
    expect(n.metrics).toHaveLength(1);
    expect(n.metrics[0]).toMatchObject({ alias: BigInt(c.eventAliases.event), valueField: "string_value", isHistorical: true, timestamp: BigInt(T0 - 10) });
    expect(JSON.parse(String(n.metrics[0]?.value))).toEqual({ seq: 12, ts: T0 - 10, type: "driver.down", device: "plc-1" });
  });

  it("NBIRTH has seq 0, bdSeq (Int64) and the rebirth control; DBIRTH names, aliases, datatypes, units and last values; NDEATH has bdSeq and no seq", async () => {
    const c = catalog();
    dataMessages([row(1, [sample("energy", "9007199254740993", { ts: T0 + 3 })])], c, 0);
    const nb = await protocDecode(encodePayload(nodeBirth(c, 17, T0)));
    expect(nb.seq).toBe(0);
    expect(nb.metrics.find((x) => x.name === "bdSeq")).toMatchObject({ datatype: DT.Int64, value: 17n });
    expect(nb.metrics.find((x) => x.name === "Node Control/Rebirth")).toMatchObject({ datatype: DT.Boolean, value: false, alias: BigInt(c.rebirthAlias) });
    expect(nb.metrics.find((x) => x.name === "Events/alarm")).toMatchObject({ datatype: DT.String, isNull: true });

    const device = c.devices[0];
    if (!device) throw new Error("no device");
    const db = await protocDecode(encodePayload(deviceBirth(c, device.metrics, T0, 1)));
    expect(db.seq).toBe(1);
    expect(db.metrics.map((x) => [x.name, x.alias, x.datatype])).toEqual(device.metrics.map((x) => [x.name, BigInt(x.alias), DT[x.type]]));
    expect(db.metrics[0]).toMatchObject({ isNull: true });
    expect(db.metrics[0]?.properties.engUnit).toEqual({ type: DT.String, value: "°C" });
    expect(db.metrics.find((x) => x.name === "Energy/Total")).toMatchObject({ value: 9007199254740993n, timestamp: BigInt(T0 + 3) });

    const death = await protocDecode(encodePayload(nodeDeath(17, T0)));
    expect(death.seq).toBeUndefined();
    expect(death.metrics).toEqual([expect.objectContaining({ name: "bdSeq", datatype: DT.Int64, value: 17n })]);
  });

  it("reads a rebirth command by name or alias and refuses bytes that are not a payload", () => {
    const byName = encodePayload({ timestamp: T0, metrics: [{ name: "Node Control/Rebirth", type: "Boolean", value: { kind: "boolean", value: true } }] });
    expect(decodeCommand(byName)).toEqual([{ name: "Node Control/Rebirth", alias: null, booleanValue: true }]);
    const byAlias = encodePayload({ timestamp: T0, metrics: [{ alias: 2 ** 40 + 3, value: { kind: "boolean", value: true } }] });
    expect(decodeCommand(byAlias)).toEqual([{ name: null, alias: 2 ** 40 + 3, booleanValue: true }]);
    expect(() => decodeCommand(Buffer.from([0x12, 0xff, 0xff, 0xff]))).toThrow(/not a Sparkplug B payload/);
  });
});

describe("Sparkplug config", () => {
  it("accepts ids that are valid topic levels and refuses + / # and empty ids", () => {
    expect(sparkplugConfigSchema.parse({ groupId: "Plant 1", edgeNodeId: "gw-1.a" })).toEqual({ groupId: "Plant 1", edgeNodeId: "gw-1.a" });
    for (const bad of ["a/b", "a+b", "a#", ""]) {
      const r = sparkplugConfigSchema.safeParse({ groupId: bad, edgeNodeId: "gw" });
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(["groupId"]);
    }
    expect(sparkplugConfigSchema.safeParse({ groupId: "g", edgeNodeId: "gw", extra: 1 }).success).toBe(false);
  });
});
