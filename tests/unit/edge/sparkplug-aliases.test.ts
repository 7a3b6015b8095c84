import { describe, expect, it } from "vitest";
import { assignAliases } from "../../../edge/uplink/sparkplug/aliases.js";
import { MetricCatalog } from "../../../edge/uplink/sparkplug/catalog.js";

const devices = [
  { deviceId: "plc-1", metrics: [{ point: "temp", name: "Temperature", datatype: "number" as const, unit: "°C" }, { point: "run", name: "Running", datatype: "boolean" as const }] },
  { deviceId: "plc-2", metrics: [{ point: "count", name: "Count", datatype: "int64" as const }] },
];

describe("Sparkplug metric aliases", () => {
  it("gives the same alias to a key whatever the order and whatever other keys exist", () => {
    const a = assignAliases(["p1", "p2", "p3"]);
    const b = assignAliases(["p3", "p1", "p2"]);
    const c = assignAliases(["p2", "p9", "p1", "p3", "p4"]);
    for (const k of ["p1", "p2", "p3"]) {
      expect(b.get(k)).toBe(a.get(k));
      expect(c.get(k)).toBe(a.get(k));
    }
  });

  it("assigns unique, non-zero aliases that a double holds exactly", () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `point-${i}`);
    const aliases = assignAliases(keys);
    const values = [...aliases.values()];
    expect(new Set(values).size).toBe(keys.length);
    for (const v of values) {
      expect(v).toBeGreaterThan(0);
      expect(v).toBeLessThan(2 ** 52);
      expect(Number.isSafeInteger(v)).toBe(true);
    }
  });

  it("keeps node and device metric aliases apart and stable across catalog instances", () => {
    const one = new MetricCatalog(devices);
    const two = new MetricCatalog([...devices].reverse());
    const all = [one.rebirthAlias, one.eventAliases.event, one.eventAliases.alarm, ...one.devices.flatMap((d) => d.metrics.map((m) => m.alias))];
    expect(new Set(all).size).toBe(all.length);
    for (const p of ["temp", "run", "count"]) expect(two.byPoint(p)?.alias).toBe(one.byPoint(p)?.alias);
    expect(two.rebirthAlias).toBe(one.rebirthAlias);
    expect(one.byPoint("count")).toMatchObject({ deviceId: "plc-2", name: "Count", type: "Int64" });
  });

  it("refuses a device list a host could not read: bad device id, duplicate point, duplicate name", () => {
    expect(() => new MetricCatalog([{ deviceId: "a/b", metrics: [] }])).toThrow(/must be 1-128 characters without '\+', '\/' or '#'/);
    expect(() => new MetricCatalog([{ deviceId: "d1", metrics: [{ point: "x", name: "X", datatype: "number" }] }, { deviceId: "d2", metrics: [{ point: "x", name: "Y", datatype: "number" }] }])).toThrow(/point x is listed twice/);
    expect(() => new MetricCatalog([{ deviceId: "d1", metrics: [{ point: "x", name: "X", datatype: "number" }, { point: "y", name: "X", datatype: "number" }] }])).toThrow(/two metrics named "X"/);
  });
});
