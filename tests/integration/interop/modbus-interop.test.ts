import { afterEach, describe, expect, it } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ModbusDriver } from "../../../edge/drivers/modbus/driver.js";
import { modbusTcpDeviceSchema } from "../../../edge/drivers/modbus/config.js";
import { SharedResources } from "../../../edge/drivers/shared.js";
import { startModbusSimulator, type ModbusSimulator, type ModbusProfile } from "../../../simulators/modbus/index.js";
import type { Sample } from "../../../edge/model.js";
import { REPO } from "../../helpers/cli.js";
import { freePort, waitFor } from "../../helpers/ports.js";
import { acceptsTcp } from "../../../simulators/broker/net.js";
import { testLogger } from "../../helpers/logger.js";

/**
 * Each side against a third-party implementation from Debian: our driver reads a pymodbus server,
 * and mbpoll (a libmodbus client) reads and writes our simulator. .ci/run installs both.
 */
const PYTHON = "/usr/bin/python3"; // Debian's python3-pymodbus lives in the system interpreter
const ctx = () => ({ logger: testLogger(), clock: Date.now, shared: new SharedResources() });

/** Runs mbpoll without blocking this process's event loop, where the simulator under test lives. */
function mbpoll(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("mbpoll", ["-m", "tcp", "-1", "-a", "1", ...args], { encoding: "utf8", timeout: 10_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return reject(new Error("mbpoll is not installed (.ci/run installs it)"));
      if (err) return reject(new Error(`mbpoll failed: ${stdout}\n${stderr}`));
      resolve(stdout);
    });
  });
}

/** mbpoll prints `[ref]: value` lines. */
const mbpollValues = (out: string) => [...out.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => m[2] ?? "");

describe("Modbus interop with third-party implementations", () => {
  let server: ChildProcess | undefined;
  let driver: ModbusDriver | undefined;
  let sim: ModbusSimulator | undefined;
  afterEach(async () => {
    await driver?.stop();
    await sim?.stop();
    server?.kill("SIGKILL");
    driver = undefined;
    sim = undefined;
    server = undefined;
  });

  it("our driver reads and writes a pymodbus server correctly", async () => {
    const port = await freePort();
    server = spawn(PYTHON, [join(REPO, "tests/fixtures/pymodbus-server.py"), String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    server.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    await waitFor(`pymodbus on ${port} (${err})`, async () => ((await acceptsTcp("127.0.0.1", port)) ? true : undefined), 15_000);
    const config = modbusTcpDeviceSchema.parse({
      id: "py",
      protocol: "modbus-tcp",
      host: "127.0.0.1",
      port,
      pollMs: 100,
      points: [
        { id: "pi", register: 0, type: "float32" },
        { id: "count", register: 2 },
        { id: "minus1", register: 3, type: "int16" },
        { id: "setpoint", register: 10, writable: true },
        { id: "c0", table: "coil", register: 0 },
        { id: "c1", table: "coil", register: 1 },
        { id: "d1", table: "discrete", register: 1 },
        { id: "d2", table: "discrete", register: 2 },
        { id: "ir2", table: "input", register: 2 },
      ],
    });
    driver = new ModbusDriver(config, ctx());
    const got: Sample[] = [];
    await driver.start((s) => got.push(...s));
    await waitFor("a full poll", () => (got.length >= 9 ? true : undefined), 10_000);
    const first = Object.fromEntries(got.slice(0, 9).map((s) => [s.point, s.value]));
    expect(first.pi).toBeCloseTo(Math.PI, 6);
    expect(first).toMatchObject({ count: 1234, minus1: -1, setpoint: 0, c0: true, c1: false, d1: true, d2: false, ir2: 9 });
    await driver.write("setpoint", 4321);
    await waitFor("the written value read back", () => (got.some((s) => s.point === "setpoint" && s.value === 4321) ? true : undefined), 5000);
  });

  it("mbpoll reads our simulator's tables and writes a setpoint it keeps", async () => {
    const profile: ModbusProfile = {
      units: [
        {
          unit: 1,
          signals: [
            { name: "t", table: "holding", address: 0, type: "float32", signal: { kind: "constant", value: 21.5 } },
            { name: "n", table: "holding", address: 2, type: "uint16", signal: { kind: "constant", value: 4660 } },
            { name: "sp", table: "holding", address: 10, type: "uint16", signal: { kind: "constant", value: 50 }, writable: true },
            { name: "flow", table: "input", address: 0, type: "int16", signal: { kind: "constant", value: -7 } },
            { name: "pump", table: "coil", address: 0, type: "bool", signal: { kind: "constant", value: 1 } },
            { name: "door", table: "discrete", address: 1, type: "bool", signal: { kind: "constant", value: 1 } },
          ],
        },
      ],
    } as ModbusProfile;
    sim = await startModbusSimulator({ port: 0, profile });
    const p = String(sim.port);
    // mbpoll counts references from 1: -r 1 is address 0.
    expect(mbpollValues(await mbpoll(["-p", p, "-t", "4:hex", "-r", "1", "-c", "3", "127.0.0.1"]))).toEqual(["0x41AC", "0x0000", "0x1234"]);
    expect(mbpollValues(await mbpoll(["-p", p, "-t", "4:float", "-B", "-r", "1", "-c", "1", "127.0.0.1"]))).toEqual(["21.5"]);
    expect(mbpollValues(await mbpoll(["-p", p, "-t", "3", "-r", "1", "-c", "1", "127.0.0.1"]))).toEqual(["65529"]); // -7 as mbpoll shows a 16-bit register: unsigned;
    expect(mbpollValues(await mbpoll(["-p", p, "-t", "0", "-r", "1", "-c", "1", "127.0.0.1"]))).toEqual(["1"]);
    expect(mbpollValues(await mbpoll(["-p", p, "-t", "1", "-r", "2", "-c", "1", "127.0.0.1"]))).toEqual(["1"]);
    await mbpoll(["-p", p, "-t", "4", "-r", "11", "127.0.0.1", "72"]);
    expect(sim.readRegisters(1, "holding", 10, 1)).toEqual([72]);
    // An address the profile does not own reads 0.
    expect(mbpollValues(await mbpoll(["-p", p, "-t", "4", "-r", "501", "-c", "2", "127.0.0.1"]))).toEqual(["0", "0"]);
  });
});
