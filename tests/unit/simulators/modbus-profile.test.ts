import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { SimulatedDevice } from "../../../simulators/modbus/device.js";
import { BYTE_ORDERS, decodeValue, encodeValue, wordCount } from "../../../simulators/modbus/encoding.js";
import { defaultProfile, loadModbusProfile, parseModbusProfile, signalWidth, type ModbusProfile, type ModbusSignalDefinition } from "../../../simulators/modbus/profile.js";

const temperature: ModbusSignalDefinition = { name: "temperature", table: "holding", address: 0, type: "float32", signal: { kind: "sine", min: 20, max: 80, periodS: 60 } };

function withSignals(...signals: ModbusSignalDefinition[]): ModbusProfile {
  return { units: [{ unit: 1, signals }] };
}

function problems(input: unknown): string {
  try {
    parseModbusProfile(input);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("profile was accepted");
}

describe("parseModbusProfile", () => {
  it("fills in defaults and turns decimal strings into bigint", () => {
    const p = parseModbusProfile(
      withSignals(temperature, { name: "big", table: "input", address: 0, type: "uint64", signal: { kind: "constant", value: "18446744073709551615" } }),
    );
    const [t, big] = p.units[0]?.signals ?? [];
    expect(t?.byteOrder).toBe("ABCD");
    expect(t?.writable).toBe(false);
    expect(t?.signal).toEqual({ kind: "sine", min: 20, max: 80, periodS: 60, phaseS: 0 });
    expect(big?.signal).toEqual({ kind: "constant", value: 18446744073709551615n });
  });

  it("rejects overlapping signals in the same table, naming the path", () => {
    const msg = problems(withSignals(temperature, { ...temperature, name: "other", address: 1 }));
    expect(msg).toContain("units[0].signals[1].address");
    expect(msg).toContain('overlaps "temperature"');
  });

  it("allows the same address in different tables", () => {
    expect(() => parseModbusProfile(withSignals(temperature, { ...temperature, name: "t2", table: "input" }))).not.toThrow();
  });

  it("rejects bool in a register table and numbers in a bit table", () => {
    expect(problems(withSignals({ ...temperature, type: "bool" }))).toContain("units[0].signals[0].type");
    expect(problems(withSignals({ ...temperature, table: "coil" }))).toMatch(/coil holds type bool/);
  });

  it("rejects writable read-only tables, duplicate names and unit ids, a value past 65535, min > max", () => {
    expect(problems(withSignals({ ...temperature, table: "input", writable: true }))).toContain("units[0].signals[0].writable");
    expect(problems(withSignals(temperature, { ...temperature, address: 10 }))).toMatch(/name "temperature" is used twice/);
    expect(problems({ units: [{ unit: 3 }, { unit: 3 }] })).toContain("units[1].unit");
    expect(problems(withSignals({ ...temperature, address: 65535 }))).toMatch(/runs past 65535/);
    expect(problems(withSignals({ ...temperature, signal: { kind: "ramp", min: 5, max: 1, periodS: 1 } }))).toContain("signals[0].signal.max");
  });

  it("rejects typos and unknown kinds instead of ignoring them", () => {
    expect(problems(withSignals({ ...temperature, signal: { kind: "sine", min: 0, max: 1, periodS: 1, period: 2 } as never }))).toContain("signals[0].signal");
    expect(problems(withSignals({ ...temperature, signal: { kind: "square" } as never }))).toContain("signals[0].signal");
    expect(problems({ units: [] })).toContain("units");
  });
});

describe("loadModbusProfile", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("loads YAML and JSON files", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "modbus-profile-"));
    const yamlFile = path.join(dir, "device.yaml");
    await writeFile(
      yamlFile,
      [
        "units:",
        "  - unit: 2",
        "    signals:",
        "      - { name: level, table: holding, address: 7, type: int32, byteOrder: CDAB, signal: { kind: counter, start: '9007199254740993' } }",
      ].join("\n"),
    );
    const fromYaml = await loadModbusProfile(yamlFile);
    expect(fromYaml.units[0]?.unit).toBe(2);
    expect(fromYaml.units[0]?.signals[0]?.signal).toEqual({ kind: "counter", start: 9007199254740993n, step: 1, perS: 1 });

    const jsonFile = path.join(dir, "device.json");
    await writeFile(jsonFile, JSON.stringify(withSignals(temperature)));
    expect((await loadModbusProfile(jsonFile)).units[0]?.signals[0]?.name).toBe("temperature");
  });

  it("names the file in read, syntax and schema errors", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "modbus-profile-"));
    await expect(loadModbusProfile(path.join(dir, "missing.yaml"))).rejects.toMatchObject({ code: "SIM_PROFILE_READ" });
    const bad = path.join(dir, "bad.yaml");
    await writeFile(bad, "units: [unit: 1\n");
    await expect(loadModbusProfile(bad)).rejects.toMatchObject({ code: "SIM_PROFILE_INVALID", message: expect.stringContaining(bad) });
    const wrong = path.join(dir, "wrong.yaml");
    await writeFile(wrong, "units:\n  - unit: 1\n    signals:\n      - { name: x, table: holding, address: -1, type: uint16, signal: { kind: constant, value: 1 } }\n");
    await expect(loadModbusProfile(wrong)).rejects.toThrow(/units\[0\]\.signals\[0\]\.address/);
  });
});

describe("defaultProfile", () => {
  it("is valid", () => {
    expect(() => parseModbusProfile(defaultProfile)).not.toThrow();
  });

  it("matches the map documented in simulators/modbus/README.md", async () => {
    const readme = await readFile(new URL("../../../simulators/modbus/README.md", import.meta.url), "utf8");
    const section = readme.split("## Default map")[1]?.split("\n## ")[0] ?? "";
    const documented = section
      .split("\n")
      .filter((line) => /^\| (holding|input|coil|discrete) \|/.test(line))
      .map((line) => {
        const [table, addresses, type, name] = line.split("|").slice(1, 5).map((c) => c.trim());
        return { table, addresses, type, name };
      });
    const actual = parseModbusProfile(defaultProfile).units.flatMap((u) =>
      u.signals.map((s) => {
        const width = s.type === "bool" ? 1 : wordCount(s.type);
        return {
          table: s.table,
          addresses: width === 1 ? String(s.address) : `${s.address}-${s.address + width - 1}`,
          type: s.byteOrder === "ABCD" || width === 1 ? s.type : `${s.type} (${s.byteOrder})`,
          name: s.name,
        };
      }),
    );
    expect(documented).toEqual(actual);
  });

  it("has the foundation demo signals where the brief put them", () => {
    const signals = parseModbusProfile(defaultProfile).units.find((u) => u.unit === 1)?.signals ?? [];
    const at = (name: string) => signals.find((s) => s.name === name);
    expect(at("temperature")).toMatchObject({ table: "holding", address: 0, type: "float32", signal: { kind: "sine", min: 20, max: 80, periodS: 60 } });
    expect(at("counter")).toMatchObject({ table: "holding", address: 2, type: "uint32", signal: { kind: "counter", step: 1, perS: 1 } });
    expect(at("motor")).toMatchObject({ table: "holding", address: 4, type: "uint16", signal: { kind: "state", values: [0, 1], everyS: 5 } });
    expect(at("pressure")).toMatchObject({ table: "holding", address: 5, type: "int16", signal: { kind: "randomWalk", min: 0, max: 100 } });
    expect(at("setpoint")).toMatchObject({ table: "holding", address: 10, type: "uint16", writable: true, signal: { kind: "constant", value: 50 } });
    for (const table of ["holding", "input", "coil", "discrete"]) expect(signals.some((s) => s.table === table)).toBe(true);
  });
});

describe("string signals", () => {
  const text = (value: unknown, extra: Partial<ModbusSignalDefinition> = {}): ModbusSignalDefinition =>
    ({ name: "s", table: "holding", address: 0, type: "string", length: 4, signal: { kind: "constant", value }, ...extra }) as ModbusSignalDefinition;

  it("keep their text as written, leading zeros and all", () => {
    const p = parseModbusProfile(withSignals(text("007"), { ...text("x"), name: "t", address: 4, signal: { kind: "state", values: ["IDLE", "42"], everyS: 1 } }));
    expect(p.units[0]?.signals[0]?.signal).toEqual({ kind: "constant", value: "007" });
    expect(p.units[0]?.signals[1]?.signal).toEqual({ kind: "state", values: ["IDLE", "42"], everyS: 1 });
  });

  it("need a length, and only strings take one", () => {
    expect(problems(withSignals(text("x", { length: undefined })))).toMatch(/units\[0\]\.signals\[0\]\.length: a string needs length/);
    expect(problems(withSignals({ ...temperature, length: 2 }))).toMatch(/units\[0\]\.signals\[0\]\.length: length is only for type string/);
    expect(problems(withSignals(text("x", { length: 124 })))).toContain("signals[0].length");
  });

  it("occupy length registers when checking overlaps", () => {
    expect(problems(withSignals(text("x"), { ...temperature, address: 3 }))).toMatch(/holding 3\.\.4 overlaps "s" \(0\.\.3\)/);
    expect(() => parseModbusProfile(withSignals(text("x"), { ...temperature, address: 4 }))).not.toThrow();
  });

  it("numeric types refuse text that is not a number", () => {
    expect(problems(withSignals({ ...temperature, signal: { kind: "constant", value: "hot" } }))).toMatch(/units\[0\]\.signals\[0\]\.signal\.value: expected a number/);
    expect(problems(withSignals({ ...temperature, signal: { kind: "state", values: [1, "warm"], everyS: 1 } }))).toContain("signals[0].signal.values[1]");
    const p = parseModbusProfile(withSignals({ ...temperature, signal: { kind: "state", values: ["1.5", "-2"], everyS: 1 } }));
    expect(p.units[0]?.signals[0]?.signal).toEqual({ kind: "state", values: [1.5, -2n], everyS: 1 });
  });
});

describe("the faults section", () => {
  it("is part of a profile and validated with its path", () => {
    const p = parseModbusProfile({ ...withSignals(temperature), faults: { latencyMs: 5, units: { "1": { dropRate: 0.5 } } } });
    expect(p.faults).toEqual({ latencyMs: 5, units: { "1": { dropRate: 0.5 } } });
    expect(problems({ ...withSignals(temperature), faults: { dropRate: 7 } })).toContain("faults.dropRate");
  });

  it("the README's example is valid", async () => {
    const readme = await readFile(new URL("../../../simulators/modbus/README.md", import.meta.url), "utf8");
    const section = readme.split("\n## Faults")[1]?.split("\n## ")[0] ?? "";
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(yaml).toBeDefined();
    const parsed = parseModbusProfile({ ...withSignals(temperature), ...(parseYaml(yaml ?? "") as object) });
    expect(parsed.faults?.units?.["2"]?.exception).toEqual({ code: 4, functions: [3], addresses: [100] });
  });
});

describe("profiles/all-types.yaml", () => {
  const file = fileURLToPath(new URL("../../../simulators/modbus/profiles/all-types.yaml", import.meta.url));
  const registerTypes = ["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64", "string"] as const;

  it("has one holding signal per type and byte order on unit 1, back to back from 0", async () => {
    const p = await loadModbusProfile(file);
    const holding = (p.units.find((u) => u.unit === 1)?.signals ?? []).filter((s) => s.table === "holding").sort((a, b) => a.address - b.address);
    const combos = holding.map((s) => `${s.type}/${s.byteOrder}`);
    expect(new Set(combos).size).toBe(combos.length);
    for (const type of registerTypes) for (const order of BYTE_ORDERS) expect(combos).toContain(`${type}/${order}`);
    let next = 0;
    for (const s of holding) {
      expect(s.address, s.name).toBe(next);
      next += signalWidth(s);
    }
    expect(next).toBeLessThanOrEqual(125); // one read gets them all
    const kinds = new Set(p.units.flatMap((u) => u.signals.map((s) => s.signal.kind)));
    for (const kind of ["sine", "ramp", "counter", "randomWalk", "state", "constant"]) expect(kinds).toContain(kind);
    for (const table of ["coil", "discrete"]) expect(p.units[0]?.signals.some((s) => s.table === table)).toBe(true);
    expect(p.units.map((u) => u.unit)).toEqual([1, 2]);
  });

  it("matches the map in the README, raw words included", async () => {
    const readme = await readFile(new URL("../../../simulators/modbus/README.md", import.meta.url), "utf8");
    const section = readme.split("## The all-types profile")[1]?.split("\n## ")[0] ?? "";
    const documented = section
      .split("\n")
      .filter((line) => /^\| \d+ \| (holding|input|coil|discrete) \|/.test(line))
      .map((line) => {
        const [unit, table, addresses, type, order, name, , raw] = line.split("|").slice(1, 9).map((c) => c.trim());
        return { unit, table, addresses, type, order, name, raw };
      });
    const p = await loadModbusProfile(file);
    const actual = p.units.flatMap((u) =>
      u.signals.map((s) => {
        const width = signalWidth(s);
        const bit = s.table === "coil" || s.table === "discrete";
        const raw =
          s.signal.kind === "constant" && !bit && s.type !== "bool"
            ? encodeValue(s.type, s.byteOrder, s.signal.value, width)
                .map((w) => w.toString(16).toUpperCase().padStart(4, "0"))
                .join(" ")
            : "";
        return {
          unit: String(u.unit),
          table: s.table,
          addresses: width === 1 ? String(s.address) : `${s.address}-${s.address + width - 1}`,
          type: s.type === "string" ? `string(${width})` : s.type,
          order: s.type === "bool" ? "" : s.byteOrder,
          name: s.name,
          raw,
        };
      }),
    );
    expect(documented).toEqual(actual);
  });

  it("holds the documented values: every order of a type decodes to the same number", async () => {
    const p = await loadModbusProfile(file);
    const device = new SimulatedDevice(p);
    device.refresh(0);
    const m = device.memory(1);
    const at = (name: string) => p.units[0]?.signals.find((s) => s.name === name);
    const value = (name: string) => {
      const s = at(name);
      if (s === undefined || s.type === "bool") throw new Error(`no ${name}`);
      return decodeValue(s.type, s.byteOrder, m?.readWords("holding", s.address, signalWidth(s)) ?? []);
    };
    const expected = {
      int16: -12345,
      uint16: 54321,
      int32: -123456789,
      uint32: 3456789012,
      float32: Math.fround(-Math.PI),
      int64: -1234567890123456789n,
      uint64: 0xfedcba9876543210n,
      float64: -Math.E,
      string: "EDGE-AGENT v1",
    };
    for (const type of registerTypes) for (const order of BYTE_ORDERS) expect(value(`${type}_${order.toLowerCase()}`), `${type} ${order}`).toBe(expected[type]);
  });
});
