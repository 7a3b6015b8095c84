import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Runtime } from "../../agent/runtime/runtime.js";
import { parseConfig } from "../../agent/config/load.js";
import { startModbusSimulator, type ModbusSimulator } from "../../simulators/modbus/index.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";

describe("local API: points and writes", () => {
  let dir: string;
  let sim: ModbusSimulator;
  let runtime: Runtime;
  let api: string;
  let token: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-api-"));
    sim = await startModbusSimulator({ port: 0 });
    const config = parseConfig(
      `version: 1
device: { id: api-gw }
dataDir: ${dir}
api: { port: 0 }
devices:
  - id: plc
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${sim.port}
    pollMs: 100
    points:
      - { id: plc.counter, register: 2, type: uint32 }
      - { id: plc.setpoint, register: 10, scale: 0.5, unit: °C, writable: true, writeMin: 0, writeMax: 90 }
`,
      "api.yaml",
      {},
    );
    runtime = new Runtime({ config, logger: testLogger(), version: "1" });
    await runtime.start();
    api = `http://127.0.0.1:${runtime.apiAddress()?.port}`;
    token = readFileSync(join(dir, "api-token"), "utf8").trim();
    await waitFor("connected", () => (runtime.status().drivers[0]?.connected ? true : undefined));
  });

  afterAll(async () => {
    await runtime?.stop();
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (id: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${token}` }) =>
    fetch(`${api}/points/${id}/write`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

  it("creates the token file readable by its owner only", () => {
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(join(dir, "api-token")).mode & 0o777).toBe(0o600);
  });

  it("lists points with their latest values", async () => {
    await waitFor("a stored value", () => (runtime.points().find((p) => p.id === "plc.counter")?.latest ? true : undefined));
    const res = await fetch(`${api}/points`);
    const points = (await res.json()) as Array<{ id: string; device: string; writable: boolean; latest: { value: unknown } | null }>;
    expect(points.map((p) => p.id)).toEqual(["plc.counter", "plc.setpoint"]);
    expect(points[0]).toMatchObject({ device: "plc", writable: false });
    expect(typeof points[0]?.latest?.value).toBe("number");
    const one = await fetch(`${api}/points/plc.setpoint`);
    expect(await one.json()).toMatchObject({ id: "plc.setpoint", unit: "°C", writable: true });
  });

  it("writes a setpoint in engineering units: the device receives the raw value", async () => {
    const res = await write("plc.setpoint", { value: 36.5 });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ point: "plc.setpoint", value: 36.5, raw: 73 });
    expect(sim.readRegisters(1, "holding", 10, 1)).toEqual([73]);
  });

  it("refuses writes without the token, to read-only points, outside limits and with bad bodies; the device is untouched", async () => {
    const before = sim.readRegisters(1, "holding", 10, 1);
    const cases: Array<[Response, number, string]> = [
      [await write("plc.setpoint", { value: 10 }, {}), 401, "unauthorized"],
      [await write("plc.setpoint", { value: 10 }, { authorization: "Bearer wrong" }), 401, "unauthorized"],
      [await write("plc.counter", { value: 1 }), 403, "point_read_only"],
      [await write("plc.setpoint", { value: 95 }), 400, "write_range"],
      [await write("plc.setpoint", { value: "hot" }), 400, "write_range"],
      // A number sent as text is range-checked like a number.
      [await write("plc.setpoint", { value: "95" }), 400, "write_range"],
      [await write("plc.setpoint", { nope: 1 }), 400, "invalid_body"],
      [await write("plc.nothing", { value: 1 }), 404, "point_unknown"],
      [await fetch(`${api}/points/plc.setpoint/write`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "x" }), 415, "unsupported_media_type"],
      [await fetch(`${api}/points/plc.setpoint/write`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{" }), 400, "invalid_json"],
      [await fetch(`${api}/points/plc.setpoint/write`), 405, "method_not_allowed"],
    ];
    for (const [res, status, error] of cases) {
      expect(res.status, error).toBe(status);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe(error);
      expect(body.error.message.length).toBeGreaterThan(10);
    }
    expect(sim.readRegisters(1, "holding", 10, 1)).toEqual(before);
  });
});
