import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Runtime } from "../../agent/runtime/runtime.js";
import { loadConfig } from "../../agent/config/load.js";
import { startModbusSimulator, type ModbusProfile, type ModbusSimulator } from "../../simulators/modbus/index.js";
import { testLogger } from "./logger.js";
import { waitFor } from "./ports.js";

/**
 * A small plant for rules tests: a tank whose level follows the simulator's clock (a 0..100 ramp over
 * 100 s, so setting the clock to 80 s reads 80 %), a writable pump setpoint and a read-only counter.
 * Tests move the level by moving the simulator's clock: no waiting on real time.
 */
export const plantProfile: ModbusProfile = {
  units: [
    {
      unit: 1,
      signals: [
        { name: "level", table: "holding", address: 0, type: "uint16", signal: { kind: "ramp", min: 0, max: 100, periodS: 100 } },
        { name: "pump", table: "holding", address: 1, type: "uint16", signal: { kind: "constant", value: 0 }, writable: true },
        { name: "counter", table: "holding", address: 2, type: "uint16", signal: { kind: "constant", value: 7 } },
      ],
    },
  ],
};

export class Plant {
  private t = 0;
  constructor(readonly sim: ModbusSimulator) {}

  static async start(): Promise<Plant> {
    let plant: Plant | undefined;
    const sim = await startModbusSimulator({ port: 0, profile: plantProfile, tickMs: 20, clock: () => (plant ? plant.t : 0) });
    plant = new Plant(sim);
    return plant;
  }

  /** Sets the tank level (0..99) by moving the simulator's clock. */
  setLevel(level: number): void {
    this.t = level * 1000;
    this.sim.tick();
  }

  pump(): number {
    return this.sim.readRegisters(1, "holding", 1, 1)[0] as number;
  }
}

/** The devices section of the plant, for a config under test. */
export function plantDevices(port: number): string {
  return `devices:
  - id: plc
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${port}
    pollMs: 50
    points:
      - { id: tank.level, register: 0, unit: "%" }
      - { id: pump.sp, register: 1, writable: true, writeMin: 0, writeMax: 100 }
      - { id: plc.counter, register: 2 }
`;
}

/** Writes a config file into `dir` and starts a runtime from it (so rules reloads re-read the file). */
export async function startAgentFromFile(dir: string, yaml: string): Promise<{ runtime: Runtime; api: string; token: string; file: string }> {
  const file = join(dir, "agent.yaml");
  writeFileSync(file, yaml);
  const runtime = new Runtime({ config: loadConfig(file), configFile: file, logger: testLogger(), version: "test" });
  await runtime.start();
  await waitFor("the driver connected", () => (runtime.status().drivers[0]?.connected ? true : undefined));
  const api = `http://127.0.0.1:${runtime.apiAddress()?.port}`;
  return { runtime, api, token: readFileSync(join(dir, "api-token"), "utf8").trim(), file };
}

/** A small JSON client for the local API under test. */
export function apiOf(api: string, token: string | null) {
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(api + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & Array<Record<string, unknown>> };
  };
  return {
    get: (path: string) => call("GET", path),
    post: (path: string, body?: unknown) => call("POST", path, body),
    put: (path: string, body: unknown) => call("PUT", path, body),
    del: (path: string) => call("DELETE", path),
  };
}

export interface PlantAgent {
  dir: string;
  plant: Plant;
  runtime: Runtime;
  api: string;
  token: string;
  file: string;
}

/** A fresh data folder, the plant at `level`, and an agent on it with `rest` (rules, ...) in its config. */
export async function startPlantAgent(prefix: string, level: number, rest: string, header = ""): Promise<PlantAgent> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const plant = await Plant.start();
  plant.setLevel(level);
  const yaml = `version: 1\ndataDir: ${dir}\napi: { port: 0 }\n${header}${plantDevices(plant.sim.port)}${rest}`;
  return { dir, plant, ...(await startAgentFromFile(dir, yaml)) };
}
