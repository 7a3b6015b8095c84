/**
 * `edge-agent sim modbus` as a user runs it (the built CLI: npm test builds first), over TCP with the
 * control endpoint and over RTU on a socat pty pair.
 */
import { fileURLToPath } from "node:url";
import ModbusSerial from "modbus-serial";
import type { ModbusRTU as ModbusClient } from "modbus-serial/ModbusRTU.js";
import { afterEach, describe, expect, it } from "vitest";
import { CliProcess, parseReadyLine, runCli } from "../../helpers/cli.js";
import { startPtyPair, type PtyPair } from "../../helpers/pty.js";

const ModbusRTU = ModbusSerial as unknown as typeof ModbusClient;
type ModbusRTU = ModbusClient;

const ALL_TYPES = fileURLToPath(new URL("../../../simulators/modbus/profiles/all-types.yaml", import.meta.url));

let proc: CliProcess | undefined;
let pty: PtyPair | undefined;
const clients: ModbusRTU[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => new Promise<void>((resolve) => (c.isOpen ? c.close(() => resolve()) : resolve()))));
  if (proc !== undefined) await proc.stop("SIGKILL");
  proc = undefined;
  await pty?.stop();
  pty = undefined;
});

describe("edge-agent sim modbus", () => {
  it("serves a profile over TCP and takes faults through its control endpoint", async () => {
    proc = new CliProcess(["sim", "modbus", "--config", ALL_TYPES, "--port", "0", "--control-port", "0", "--tick-ms", "50", "--log-level", "warn"]);
    const ready = parseReadyLine(await proc.waitForLine(/^ready /));
    expect(ready.modbus).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.control).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(ready.modbus ?? "").port);

    const c = new ModbusRTU();
    clients.push(c);
    await c.connectTCP("127.0.0.1", { port });
    c.setID(1);
    c.setTimeout(1000);
    const holding = await c.readHoldingRegisters(0, 112);
    expect(holding.buffer.readInt16BE(0)).toBe(-12345); // int16 ABCD
    expect(holding.buffer.readInt32LE(14 * 2)).toBe(-123456789); // int32 DCBA: fully little-endian
    expect(holding.buffer.readBigUInt64BE(48 * 2)).toBe(0xfedcba9876543210n); // uint64 ABCD
    expect(holding.buffer.subarray(80 * 2, 80 * 2 + 13).toString("ascii")).toBe("EDGE-AGENT v1"); // string ABCD

    const put = await fetch(`${ready.control}/faults`, { method: "PUT", body: JSON.stringify({ exception: { code: 4 } }) });
    expect(put.status).toBe(200);
    await expect(c.readHoldingRegisters(0, 1)).rejects.toMatchObject({ modbusCode: 4 });
    const stats = (await (await fetch(`${ready.control}/stats`)).json()) as { requests: number; exceptions: number };
    expect(stats).toMatchObject({ requests: 2, exceptions: 1 });

    expect(await proc.stop("SIGTERM")).toBe(0);
  });

  it("is an RTU slave on a serial device with --rtu", async () => {
    pty = await startPtyPair();
    proc = new CliProcess(["sim", "modbus", "--config", ALL_TYPES, "--rtu", pty.a, "--baud", "19200", "--log-level", "warn"]);
    const ready = parseReadyLine(await proc.waitForLine(/^ready /));
    expect(ready.modbus).toBe(`rtu://${pty.a}`);

    const c = new ModbusRTU();
    clients.push(c);
    await c.connectRTUBuffered(pty.b, { baudRate: 19200 });
    c.setID(2);
    c.setTimeout(1000);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([2]); // unit 2's id register
    c.setID(1);
    expect((await c.readHoldingRegisters(4, 1)).data).toEqual([54321]);
    expect(await proc.stop("SIGTERM")).toBe(0);
  });

  it("refuses contradictory options and a bad profile", async () => {
    const both = runCli(["sim", "modbus", "--rtu", "/dev/null", "--port", "5020"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--rtu and --port/);
    expect(runCli(["sim", "modbus", "--baud", "9600"]).code).toBe(2);
    expect(runCli(["sim", "--rtu", "/dev/ttyS0", "--no-agent"]).code).toBe(2);
    const missing = runCli(["sim", "modbus", "--config", "/nonexistent/profile.yaml", "--port", "0"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read Modbus simulator profile/);
  });

  it("documents the modbus target in its help", () => {
    const help = runCli(["sim", "--help"]);
    expect(help.code).toBe(0);
    for (const option of ["--config", "--port", "--rtu", "--baud", "--tick-ms", "--control-port"]) expect(help.stdout).toContain(option);
  });
});
