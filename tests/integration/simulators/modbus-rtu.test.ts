/**
 * The RTU simulator on one end of a socat pseudo-terminal pair, checked from the other end with
 * modbus-serial (an independent codec) and with a raw serial port for bytes a client library won't send.
 */
import ModbusSerial from "modbus-serial";
import type { ModbusRTU as ModbusClient } from "modbus-serial/ModbusRTU.js";
import { SerialPort } from "serialport";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startModbusRtuSimulator, type ModbusProfile, type ModbusRtuSimulator } from "../../../simulators/modbus/index.js";
import { startPtyPair, type PtyPair } from "../../helpers/pty.js";

// modbus-serial is CommonJS with an `export default` in its typings; at run time the import is the class.
const ModbusRTU = ModbusSerial as unknown as typeof ModbusClient;
type ModbusRTU = ModbusClient;

/** Client timeout: every "no answer" case costs this much, so keep it short. */
const TIMEOUT_MS = 250;

const profile: ModbusProfile = {
  units: [
    {
      unit: 1,
      signals: [
        { name: "temperature", table: "holding", address: 0, type: "float32", signal: { kind: "constant", value: 21.5 } },
        { name: "setpoint", table: "holding", address: 10, type: "uint16", writable: true, signal: { kind: "constant", value: 50 } },
        { name: "flow", table: "input", address: 0, type: "uint16", signal: { kind: "constant", value: 375 } },
        { name: "pump", table: "coil", address: 0, type: "bool", signal: { kind: "constant", value: true } },
        { name: "door", table: "discrete", address: 0, type: "bool", signal: { kind: "constant", value: true } },
      ],
    },
    { unit: 2, signals: [{ name: "id", table: "holding", address: 0, type: "uint16", signal: { kind: "constant", value: 2 } }] },
  ],
};

let pty: PtyPair;
let sim: ModbusRtuSimulator;
const clients: ModbusRTU[] = [];
const ports: SerialPort[] = [];

async function client(unit = 1): Promise<ModbusRTU> {
  const c = new ModbusRTU();
  clients.push(c);
  await c.connectRTUBuffered(pty.b, { baudRate: 9600 });
  c.setID(unit);
  c.setTimeout(TIMEOUT_MS);
  return c;
}

/** The client end as a plain serial port that records every byte the simulator sends. */
async function rawPort(): Promise<{ port: SerialPort; received: () => Buffer }> {
  const port = new SerialPort({ path: pty.b, baudRate: 9600, autoOpen: false });
  ports.push(port);
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  const chunks: Buffer[] = [];
  port.on("data", (c: Buffer) => chunks.push(c));
  return { port, received: () => Buffer.concat(chunks) };
}

/** CRC-16/MODBUS, bit by bit, independent of the simulator's table-driven one. */
function withCrc(bytes: number[]): Buffer {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return Buffer.from([...bytes, crc & 0xff, crc >>> 8]);
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function isTimeout(err: unknown): boolean {
  return (err as { errno?: string }).errno === "ETIMEDOUT";
}

beforeEach(async () => {
  pty = await startPtyPair();
  sim = await startModbusRtuSimulator({ path: pty.a, baudRate: 9600, profile, clock: () => 0 });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => new Promise<void>((resolve) => (c.isOpen ? c.close(() => resolve()) : resolve()))));
  await Promise.all(ports.splice(0).map((p) => new Promise<void>((resolve) => (p.isOpen ? p.close(() => resolve()) : resolve()))));
  await sim.stop();
  await pty.stop();
});

describe("Modbus RTU simulator over a pseudo-terminal", () => {
  it("reports its line", () => {
    expect(sim.url).toBe(`rtu://${pty.a}`);
    expect(sim.path).toBe(pty.a);
    expect(sim.baudRate).toBe(9600);
    expect(sim.stats().connections).toBe(1);
  });

  it("serves function codes 1, 2, 3, 4, 5, 6, 15 and 16", async () => {
    const c = await client();
    const holding = await c.readHoldingRegisters(0, 11);
    expect(holding.buffer.readFloatBE(0)).toBe(21.5);
    expect(holding.data[10]).toBe(50);
    expect((await c.readInputRegisters(0, 1)).data).toEqual([375]);
    expect((await c.readCoils(0, 1)).data[0]).toBe(true);
    expect((await c.readDiscreteInputs(0, 1)).data[0]).toBe(true);
    await c.writeRegister(10, 77);
    await c.writeRegisters(20, [1, 2, 0xffff]);
    await c.writeCoil(0, false);
    await c.writeCoils(5, [true, false, true]);
    sim.tick();
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([77]);
    expect((await c.readHoldingRegisters(20, 3)).data).toEqual([1, 2, 0xffff]);
    expect(sim.readBits(1, "coil", 5, 3)).toEqual([true, false, true]);
    expect(sim.stats()).toMatchObject({ requests: 10, replies: 10, crcErrors: 0, byFunction: { 1: 1, 2: 1, 3: 3, 4: 1, 5: 1, 6: 1, 15: 1, 16: 1 }, byUnit: { 1: 10 } });
  });

  it("answers exceptions: illegal address, and an unknown function code ended by the silence", async () => {
    const c = await client();
    await expect(c.readHoldingRegisters(65535, 2)).rejects.toMatchObject({ modbusCode: 2 });
    // modbus-serial can't wait for an answer to a custom function over RTU, so send it raw.
    await new Promise<void>((resolve) => c.close(() => resolve()));
    const raw = await rawPort();
    raw.port.write(withCrc([1, 0x41, 0x00]));
    await until(() => raw.received().length >= 5, "the exception reply");
    expect([...raw.received()]).toEqual([...withCrc([1, 0xc1, 0x01])]);
  });

  it("serves two unit ids on one line, each with its own tables", async () => {
    const c = await client(1);
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]);
    c.setID(2);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([2]);
    await c.writeRegister(5, 9);
    expect(sim.readRegisters(2, "holding", 5, 1)).toEqual([9]);
    expect(sim.readRegisters(1, "holding", 5, 1)).toEqual([0]);
    expect(sim.stats().byUnit).toEqual({ 1: 1, 2: 2 });
  });

  it("stays silent for a unit id it doesn't have: the client times out, the line still works", async () => {
    const c = await client(9);
    await expect(c.readHoldingRegisters(0, 1)).rejects.toSatisfy(isTimeout);
    expect(sim.stats()).toMatchObject({ requests: 1, ignored: 1, replies: 0, exceptions: 0 });
    c.setID(1);
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]);
  });

  it("executes a broadcast write on every unit and answers nothing", async () => {
    const raw = await rawPort();
    raw.port.write(withCrc([0, 6, 0, 30, 0x12, 0x34]));
    await until(() => sim.stats().broadcasts === 1, "the broadcast");
    expect(sim.readRegisters(1, "holding", 30, 1)).toEqual([0x1234]);
    expect(sim.readRegisters(2, "holding", 30, 1)).toEqual([0x1234]);
    // Then a normal request: its reply is the first and only thing on the line.
    raw.port.write(withCrc([2, 3, 0, 30, 0, 1]));
    await until(() => raw.received().length >= 7, "the reply");
    expect([...raw.received()]).toEqual([...withCrc([2, 3, 2, 0x12, 0x34])]);
  });

  it("ignores and counts a request with a bad CRC, and garbage", async () => {
    const raw = await rawPort();
    raw.port.write(Buffer.from([1, 3, 0, 10, 0, 1, 0xde, 0xad])); // right shape, wrong CRC
    await until(() => sim.stats().crcErrors === 1, "the CRC error");
    raw.port.write(Buffer.from("AT+RESET\r\n", "ascii")); // not Modbus at all: ends at the silence
    await until(() => sim.stats().crcErrors + sim.stats().framingErrors === 2, "the garbage to be discarded");
    raw.port.write(withCrc([1, 3, 0, 10, 0, 1]));
    await until(() => raw.received().length >= 7, "the reply");
    // Nothing was sent for the bad frames: the only bytes are the good request's reply.
    expect([...raw.received()]).toEqual([...withCrc([1, 3, 2, 0, 50])]);
    expect(sim.stats()).toMatchObject({ requests: 1, replies: 1 });
  });

  it("sends a wrong CRC when told to, which the client reports as a CRC error", async () => {
    const c = await client();
    sim.setFaults({ units: { "1": { corruptCrc: true } } });
    await expect(c.readHoldingRegisters(10, 1)).rejects.toThrow(/CRC error/);
    c.setID(2);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([2]); // unit 2 is not affected
    sim.clearFaults();
    c.setID(1);
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]);
    expect(sim.stats()).toMatchObject({ corrupted: 1, replies: 3 });
  });

  it("answers an injected exception and drops requests at run time", async () => {
    const c = await client();
    sim.setFaults({ exception: { code: 6, functions: [3] } });
    await expect(c.readHoldingRegisters(10, 1)).rejects.toMatchObject({ modbusCode: 6 });
    expect((await c.readInputRegisters(0, 1)).data).toEqual([375]); // FC 4 is not listed
    sim.setFaults({ dropRate: 1 });
    await expect(c.readHoldingRegisters(10, 1)).rejects.toSatisfy(isTimeout);
    expect(sim.stats()).toMatchObject({ requests: 3, exceptions: 1, dropped: 1 });
  });

  it("goes silent while offline and answers again after goOnline", async () => {
    const c = await client();
    await sim.goOffline(60);
    expect(sim.stats().offline).toBe(true);
    await expect(c.readHoldingRegisters(10, 1)).rejects.toSatisfy(isTimeout);
    await sim.goOnline();
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]);
    await sim.goOffline(60, 2); // one unit only
    c.setID(2);
    await expect(c.readHoldingRegisters(0, 1)).rejects.toSatisfy(isTimeout);
    c.setID(1);
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]);
    expect(sim.stats()).toMatchObject({ dropped: 2, offline: false, offlineUnits: [2] });
  });
});

describe("Modbus RTU simulator options", () => {
  it("refuses unit 0 (broadcast) in the profile, a bad baud rate and a missing device", async () => {
    const p = await startPtyPair();
    try {
      await expect(startModbusRtuSimulator({ path: p.a, profile: { units: [{ unit: 0 }] } })).rejects.toMatchObject({ code: "SIM_PROFILE_INVALID" });
      await expect(startModbusRtuSimulator({ path: p.a, baudRate: 0 })).rejects.toMatchObject({ code: "SIM_OPTIONS_INVALID" });
      await expect(startModbusRtuSimulator({ path: `${p.a}-missing` })).rejects.toMatchObject({ code: "SIM_SERIAL_OPEN" });
    } finally {
      await p.stop();
    }
  });
});
