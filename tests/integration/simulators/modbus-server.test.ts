/**
 * The simulator over a real socket, checked with modbus-serial as an independent client (it shares no
 * code with the simulator's codec) and with raw sockets for framing and garbage.
 */
import net from "node:net";
import ModbusSerial from "modbus-serial";
import type { ModbusRTU as ModbusClient } from "modbus-serial/ModbusRTU.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startModbusSimulator, type ModbusSimulator } from "../../../simulators/modbus/index.js";

// modbus-serial is CommonJS (`module.exports = ModbusRTU`) but its typings declare `export default`,
// which NodeNext reads as a `.default` property; at run time the default import is the class itself.
const ModbusRTU = ModbusSerial as unknown as typeof ModbusClient;
type ModbusRTU = ModbusClient;

let sim: ModbusSimulator;
let now: number;
const clients: ModbusRTU[] = [];
const sockets: net.Socket[] = [];

async function client(unit = 1): Promise<ModbusRTU> {
  const c = new ModbusRTU();
  clients.push(c);
  await c.connectTCP("127.0.0.1", { port: sim.port });
  c.setID(unit);
  c.setTimeout(1000);
  return c;
}

function closeClient(c: ModbusRTU): Promise<void> {
  return new Promise((resolve) => {
    if (!c.isOpen) return resolve();
    c.close(() => resolve());
  });
}

/** A raw TCP socket that collects every byte the server sends. */
async function raw(): Promise<{ socket: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = net.connect(sim.port, "127.0.0.1");
  sockets.push(socket);
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, received: () => Buffer.concat(chunks), closed };
}

function request(tx: number, unit: number, pdu: number[]): Buffer {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tx, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(pdu.length + 1, 4);
  b.writeUInt8(unit, 6);
  Buffer.from(pdu).copy(b, 7);
  return b;
}

/** Splits the server's byte stream into [transaction id, unit id, pdu bytes] triples. */
function responses(bytes: Buffer): [number, number, number[]][] {
  const out: [number, number, number[]][] = [];
  let off = 0;
  while (off + 6 <= bytes.length) {
    const len = bytes.readUInt16BE(off + 4);
    if (off + 6 + len > bytes.length) break;
    out.push([bytes.readUInt16BE(off), bytes.readUInt8(off + 6), [...bytes.subarray(off + 7, off + 6 + len)]]);
    off += 6 + len;
  }
  return out;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Fails fast (instead of at the suite timeout) when something that should finish hangs. */
async function within<T>(promise: Promise<T>, what: string, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function modbusCode(err: unknown): number | undefined {
  return (err as { modbusCode?: number }).modbusCode;
}

beforeEach(async () => {
  now = 1_700_000_000_000;
  sim = await startModbusSimulator({ port: 0, clock: () => now, tickMs: 20 });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map(closeClient));
  for (const s of sockets.splice(0)) s.destroy();
  await within(sim.stop(), "stop()");
});

describe("Modbus simulator over TCP", () => {
  it("listens on a free port and reports it", () => {
    expect(sim.port).toBeGreaterThan(0);
    expect(sim.host).toBe("127.0.0.1");
    expect(sim.url).toBe(`tcp://127.0.0.1:${sim.port}`);
  });

  it("serves all four tables of the default map to modbus-serial", async () => {
    const c = await client();
    now += 15_000; // a quarter of the temperature period: the sine is at its peak
    sim.tick();
    const holding = await c.readHoldingRegisters(0, 11);
    expect(holding.buffer.readFloatBE(0)).toBe(80);
    expect(holding.buffer.readUInt32BE(4)).toBe(15); // counter
    expect(holding.data[4]).toBe(1); // motor
    expect(holding.data[5]).toBeGreaterThanOrEqual(0);
    expect(holding.data[5]).toBeLessThanOrEqual(100);
    expect(holding.data[10]).toBe(50); // setpoint
    expect(holding.data).toEqual(sim.readRegisters(1, "holding", 0, 11));

    const input = await c.readInputRegisters(0, 8);
    expect(input.data[0]).toBe(375); // flow ramp
    expect(input.buffer.readBigUInt64BE(8)).toBe(9007199254740993n + 15n); // energy, exact past 2^53

    const coils = await c.readCoils(0, 2);
    expect(coils.data.slice(0, 2)).toEqual([true, true]);
    const discrete = await c.readDiscreteInputs(0, 1);
    expect(discrete.data[0]).toBe(false);
  });

  it("changes values as the clock advances", async () => {
    const c = await client();
    const before = (await c.readHoldingRegisters(2, 2)).buffer.readUInt32BE(0);
    now += 3_000;
    await until(() => sim.readRegisters(1, "holding", 3, 1)[0] === before + 3, "the tick timer");
    expect((await c.readHoldingRegisters(2, 2)).buffer.readUInt32BE(0)).toBe(before + 3);
  });

  it("writes single and multiple registers and coils, and reads them back", async () => {
    const c = await client();
    await c.writeRegister(10, 77);
    await c.writeRegisters(20, [1, 2, 0xffff]);
    await c.writeCoil(1, false);
    await c.writeCoils(5, [true, false, true]);
    now += 2_000;
    sim.tick(); // the setpoint sticks; plain memory is untouched by signals
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([77]);
    expect((await c.readHoldingRegisters(20, 3)).data).toEqual([1, 2, 0xffff]);
    // pump (coil 0) is still off 2 s in; enable (coil 1) was switched off by the client and stays off.
    expect((await c.readCoils(0, 8)).data).toEqual([false, false, false, false, false, true, false, true]);
    expect(sim.readRegisters(1, "holding", 10, 1)).toEqual([77]);
    expect(sim.readBits(1, "coil", 5, 3)).toEqual([true, false, true]);
  });

  it("answers illegal address, illegal function and unknown unit with exceptions", async () => {
    const c = await client();
    await expect(c.readHoldingRegisters(65535, 2)).rejects.toSatisfy((e) => modbusCode(e) === 2);
    await expect(c.customFunction(0x41, [])).rejects.toSatisfy((e) => modbusCode(e) === 1);
    c.setID(9);
    await expect(c.readHoldingRegisters(0, 1)).rejects.toSatisfy((e) => modbusCode(e) === 0x0b);
    c.setID(1);
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]); // the connection survived
    expect(sim.stats()).toMatchObject({ connections: 1, requests: 4, exceptions: 3 });
  });

  it("answers a quantity above the limit with exception 03", async () => {
    const r = await raw();
    r.socket.write(request(5, 1, [3, 0, 0, 0, 126]));
    await until(() => responses(r.received()).length === 1, "the response");
    expect(responses(r.received())).toEqual([[5, 1, [0x83, 3]]]);
  });

  it("reassembles a frame split across two TCP writes", async () => {
    const r = await raw();
    const frame = request(0x1234, 1, [3, 0, 10, 0, 1]);
    r.socket.write(frame.subarray(0, 4));
    await new Promise((resolve) => setTimeout(resolve, 50)); // make the server see two chunks
    expect(r.received()).toHaveLength(0);
    r.socket.write(frame.subarray(4));
    await until(() => responses(r.received()).length === 1, "the response");
    expect(responses(r.received())).toEqual([[0x1234, 1, [3, 2, 0, 50]]]);
  });

  it("answers two frames sent in one write, in order", async () => {
    const r = await raw();
    r.socket.write(Buffer.concat([request(1, 1, [6, 0, 30, 0x12, 0x34]), request(2, 1, [3, 0, 30, 0, 1])]));
    await until(() => responses(r.received()).length === 2, "both responses");
    expect(responses(r.received())).toEqual([
      [1, 1, [6, 0, 30, 0x12, 0x34]],
      [2, 1, [3, 2, 0x12, 0x34]],
    ]);
  });

  it("closes a connection that sends garbage and keeps serving everyone else", async () => {
    const before = await client();
    const bad = await raw();
    await until(() => sim.stats().connections === 2, "both connections");
    bad.socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await bad.closed;
    expect(bad.received()).toHaveLength(0);
    const badLength = await raw();
    badLength.socket.write(Buffer.from([0, 1, 0, 0, 0x10, 0x00, 1, 3]));
    await badLength.closed;

    expect((await before.readHoldingRegisters(10, 1)).data).toEqual([50]);
    const after = await client();
    expect((await after.readHoldingRegisters(10, 1)).data).toEqual([50]);
    await until(() => sim.stats().connections === 2, "the garbage connections to be gone");
  });

  it("serves many clients at once", async () => {
    const many = await Promise.all(Array.from({ length: 20 }, () => client()));
    await until(() => sim.stats().connections === 20, "20 accepted connections");
    const results = await Promise.all(many.map(async (c, i) => {
      await c.writeRegister(100 + i, i * 3);
      return (await c.readHoldingRegisters(100 + i, 1)).data[0];
    }));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 3));
  });

  it("stop() drops connected clients and frees the port", async () => {
    const r = await raw();
    await until(() => sim.stats().connections === 1, "the connection");
    // server.close() alone waits for every client to leave: stop() must drop them itself.
    await within(sim.stop(), "stop() with a client connected");
    await within(r.closed, "the client socket closing");
    await expect(
      new Promise<void>((resolve, reject) => {
        const s = net.connect(sim.port, "127.0.0.1", () => {
          s.destroy();
          resolve();
        });
        s.on("error", reject);
      }),
    ).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await sim.stop(); // idempotent
  });
});

describe("Modbus simulator with a custom profile", () => {
  let custom: ModbusSimulator | undefined;
  afterEach(async () => {
    await Promise.all(clients.splice(0).map(closeClient));
    if (custom !== undefined) await within(custom.stop(), "stop()");
    custom = undefined;
  });

  it("serves several unit ids, each with its own tables", async () => {
    custom = await startModbusSimulator({
      port: 0,
      clock: () => 0,
      profile: {
        units: [
          { unit: 1, signals: [{ name: "a", table: "holding", address: 0, type: "int32", byteOrder: "CDAB", signal: { kind: "constant", value: -2 } }] },
          { unit: 2, signals: [{ name: "b", table: "holding", address: 0, type: "uint16", signal: { kind: "constant", value: 2 } }] },
        ],
      },
    });
    const c1 = new ModbusRTU();
    const c2 = new ModbusRTU();
    clients.push(c1, c2);
    await c1.connectTCP("127.0.0.1", { port: custom.port });
    await c2.connectTCP("127.0.0.1", { port: custom.port });
    c1.setID(1);
    c2.setID(2);
    c1.setTimeout(1000);
    c2.setTimeout(1000);
    expect((await c1.readHoldingRegisters(0, 2)).data).toEqual([0xfffe, 0xffff]);
    expect((await c2.readHoldingRegisters(0, 2)).data).toEqual([2, 0]);
    await c2.writeRegister(5, 9);
    expect(custom.readRegisters(2, "holding", 5, 1)).toEqual([9]);
    expect(custom.readRegisters(1, "holding", 5, 1)).toEqual([0]);
  });

  it("refuses an invalid profile before binding a port", async () => {
    await expect(
      startModbusSimulator({ port: 0, profile: { units: [{ unit: 1, signals: [{ name: "x", table: "input", address: 0, type: "bool", signal: { kind: "constant", value: 1 } }] }] } }),
    ).rejects.toMatchObject({ code: "SIM_PROFILE_INVALID" });
  });

  it("reports a port in use", async () => {
    await expect(startModbusSimulator({ port: sim.port })).rejects.toMatchObject({ code: "SIM_LISTEN" });
  });
});
