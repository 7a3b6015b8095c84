/**
 * The HTTP control endpoint over a real socket: faults injected through it are seen by a Modbus
 * client (modbus-serial) of the simulator it steers.
 */
import net from "node:net";
import ModbusSerial from "modbus-serial";
import type { ModbusRTU as ModbusClient } from "modbus-serial/ModbusRTU.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startModbusControlServer, startModbusSimulator, type ModbusControlServer, type ModbusSimulator } from "../../../simulators/modbus/index.js";

const ModbusRTU = ModbusSerial as unknown as typeof ModbusClient;
type ModbusRTU = ModbusClient;

let sim: ModbusSimulator;
let control: ModbusControlServer;
let c: ModbusRTU;

async function http(method: string, path: string, body?: string): Promise<{ status: number; json: Record<string, unknown>; allow: string | null }> {
  const res = await fetch(`${control.url}${path}`, { method, ...(body !== undefined ? { body, headers: { "content-type": "application/json" } } : {}) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, allow: res.headers.get("allow") };
}

function connectOnce(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve("connected");
    });
    s.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
  });
}

beforeEach(async () => {
  sim = await startModbusSimulator({ port: 0, clock: () => 0 });
  control = await startModbusControlServer(sim, { port: 0 });
  c = new ModbusRTU();
  await c.connectTCP("127.0.0.1", { port: sim.port });
  c.setID(1);
  c.setTimeout(250);
});

afterEach(async () => {
  if (c.isOpen) await new Promise<void>((resolve) => c.close(() => resolve()));
  await control.close();
  await sim.stop();
});

describe("Modbus simulator control endpoint", () => {
  it("listens on loopback and serves the stats", async () => {
    expect(control.url).toBe(`http://127.0.0.1:${control.port}`);
    await c.readHoldingRegisters(10, 1);
    await c.readCoils(0, 2);
    const { status, json } = await http("GET", "/stats");
    expect(status).toBe(200);
    expect(json).toMatchObject({ requests: 2, replies: 2, connections: 1, byFunction: { "1": 1, "3": 1 }, byUnit: { "1": 2 }, offline: false });
  });

  it("PUT /faults injects faults a client sees, GET shows them, DELETE clears them", async () => {
    const put = await http("PUT", "/faults", JSON.stringify({ units: { "1": { exception: { code: 6, functions: [3] } } } }));
    expect(put.status).toBe(200);
    await expect(c.readHoldingRegisters(10, 1)).rejects.toMatchObject({ modbusCode: 6 });
    expect((await c.readCoils(0, 1)).data).toHaveLength(8); // FC 1 untouched
    expect((await http("GET", "/faults")).json).toEqual({ units: { "1": { exception: { code: 6, functions: [3] } } } });

    expect((await http("DELETE", "/faults")).json).toEqual({});
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]);
  });

  it("refuses bad faults with 400 naming the field, and keeps the old ones", async () => {
    await http("PUT", "/faults", JSON.stringify({ exception: { code: 4 } }));
    const bad = await http("PUT", "/faults", JSON.stringify({ dropRate: 3 }));
    expect(bad.status).toBe(400);
    expect(String(bad.json.error)).toContain("dropRate");
    const notJson = await http("PUT", "/faults", "{latency");
    expect(notJson.status).toBe(400);
    expect(String(notJson.json.error)).toMatch(/not JSON/);
    await expect(c.readHoldingRegisters(10, 1)).rejects.toMatchObject({ modbusCode: 4 });
  });

  it("POST /offline takes the device away and POST /online brings it back", async () => {
    const off = await http("POST", "/offline?seconds=60");
    expect(off).toMatchObject({ status: 200, json: { offline: true, seconds: 60 } });
    expect(await connectOnce(sim.port)).toBe("ECONNREFUSED");
    expect((await http("GET", "/stats")).json.offline).toBe(true);
    expect((await http("POST", "/online")).status).toBe(200);
    expect(await connectOnce(sim.port)).toBe("connected");

    expect((await http("POST", "/offline?seconds=60&unit=1")).json).toEqual({ offline: true, seconds: 60, unit: 1 });
    const again = new ModbusRTU();
    await again.connectTCP("127.0.0.1", { port: sim.port });
    again.setID(1);
    again.setTimeout(250);
    try {
      await expect(again.readHoldingRegisters(10, 1)).rejects.toMatchObject({ modbusCode: 0x0b });
      expect((await http("POST", "/online?unit=1")).status).toBe(200);
      expect((await again.readHoldingRegisters(10, 1)).data).toEqual([50]);
    } finally {
      await new Promise<void>((resolve) => again.close(() => resolve()));
    }
  });

  it("answers 400 for bad parameters, 404 and 405 for wrong routes", async () => {
    expect((await http("POST", "/offline")).status).toBe(400);
    expect((await http("POST", "/offline?seconds=-1")).status).toBe(400);
    expect((await http("POST", "/offline?seconds=1&unit=300")).status).toBe(400);
    expect((await http("GET", "/nothing")).status).toBe(404);
    const wrong = await http("POST", "/stats");
    expect(wrong.status).toBe(405);
    expect(wrong.allow).toBe("GET");
    expect(sim.stats().offline).toBe(false);
  });
});
