/**
 * Every fault of the TCP simulator as a client meets it: modbus-serial (an independent codec) for
 * what a driver sees, raw sockets where the exact bytes or the kind of close matter.
 */
import net from "node:net";
import ModbusSerial from "modbus-serial";
import type { ModbusRTU as ModbusClient } from "modbus-serial/ModbusRTU.js";
import { afterEach, describe, expect, it } from "vitest";
import { startModbusSimulator, type ModbusProfile, type ModbusSimulator } from "../../../simulators/modbus/index.js";

const ModbusRTU = ModbusSerial as unknown as typeof ModbusClient;
type ModbusRTU = ModbusClient;

const TIMEOUT_MS = 250;

const profile: ModbusProfile = {
  units: [
    { unit: 1, signals: [{ name: "setpoint", table: "holding", address: 10, type: "uint16", writable: true, signal: { kind: "constant", value: 50 } }] },
    { unit: 2, signals: [{ name: "id", table: "holding", address: 0, type: "uint16", signal: { kind: "constant", value: 2 } }] },
  ],
};

let sim: ModbusSimulator | undefined;
const clients: ModbusRTU[] = [];
const sockets: net.Socket[] = [];

async function start(options: Parameters<typeof startModbusSimulator>[0] = {}): Promise<ModbusSimulator> {
  sim = await startModbusSimulator({ port: 0, profile, clock: () => 0, ...options });
  return sim;
}

async function client(s: ModbusSimulator, unit = 1): Promise<ModbusRTU> {
  const c = new ModbusRTU();
  clients.push(c);
  await c.connectTCP("127.0.0.1", { port: s.port });
  c.setID(unit);
  c.setTimeout(TIMEOUT_MS);
  return c;
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

async function raw(s: ModbusSimulator): Promise<{ socket: net.Socket; received: () => Buffer; ended: Promise<string> }> {
  const socket = net.connect(s.port, "127.0.0.1");
  sockets.push(socket);
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  // How the connection ended: "ECONNRESET" for a reset, "close" for an orderly close.
  const ended = new Promise<string>((resolve) => {
    socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.on("close", () => resolve("close"));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  return { socket, received: () => Buffer.concat(chunks), ended };
}

function connectOnce(port: number): Promise<"connected" | string> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve("connected");
    });
    s.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
  });
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const isTimeout = (err: unknown) => (err as { errno?: string }).errno === "ETIMEDOUT";

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => new Promise<void>((resolve) => (c.isOpen ? c.close(() => resolve()) : resolve()))));
  for (const s of sockets.splice(0)) s.destroy();
  await sim?.stop();
  sim = undefined;
});

describe("TCP faults seen by a client", () => {
  it("dropRate: the request is read and never answered, the client times out", async () => {
    const s = await start({ faults: { dropRate: 1 } });
    const c = await client(s);
    await expect(c.readHoldingRegisters(10, 1)).rejects.toSatisfy(isTimeout);
    expect(s.stats()).toMatchObject({ requests: 1, dropped: 1, replies: 0 });
    s.clearFaults();
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]); // same connection
  });

  it("exception: the configured code, for the listed function codes only", async () => {
    const s = await start();
    const c = await client(s);
    s.setFaults({ exception: { code: 4, functions: [6] } });
    await expect(c.writeRegister(10, 7)).rejects.toMatchObject({ modbusCode: 4 });
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]); // the write was not executed
    s.setFaults({ units: { "1": { exception: { code: 6, addresses: [11] } } } });
    await expect(c.readHoldingRegisters(10, 2)).rejects.toMatchObject({ modbusCode: 6 });
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]); // 10..10 misses 11
    expect(s.stats()).toMatchObject({ requests: 4, exceptions: 2 });
  });

  it("corruptCrc: a PDU one byte short, which the client reports as a bad frame, and the connection lives on", async () => {
    const s = await start({ faults: { corruptCrc: true } });
    const c = await client(s);
    await expect(c.readHoldingRegisters(10, 2)).rejects.toThrow(/length/i);
    const r = await raw(s);
    r.socket.write(request(7, 1, [3, 0, 10, 0, 1]));
    await until(() => r.received().length >= 10, "the corrupted reply");
    // MBAP length 4 = unit + 3 PDU bytes: the register's low byte is missing.
    expect([...r.received()]).toEqual([0, 7, 0, 0, 0, 4, 1, 3, 2, 0]);
    s.clearFaults();
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]);
    expect(s.stats().corrupted).toBe(2);
  });

  it("resetNext: the connection is reset (RST) instead of answered, N times", async () => {
    const s = await start();
    s.setFaults({ resetNext: 2 });
    const r1 = await raw(s);
    r1.socket.write(request(1, 1, [3, 0, 10, 0, 1]));
    expect(await r1.ended).toBe("ECONNRESET");
    expect(r1.received()).toHaveLength(0);

    const c = await client(s);
    await expect(c.readHoldingRegisters(10, 1)).rejects.toBeDefined();
    await until(() => !c.isOpen, "modbus-serial to notice the reset");
    expect(s.faults().resetNext).toBe(0);

    const again = await client(s);
    expect((await again.readHoldingRegisters(10, 1)).data).toEqual([50]); // budget used up
    expect(s.stats()).toMatchObject({ resets: 2, replies: 1 });
  });

  it("resetRate: resets at the given rate", async () => {
    const s = await start({ faults: { resetRate: 1 } });
    const r = await raw(s);
    r.socket.write(request(1, 2, [3, 0, 0, 0, 1]));
    expect(await r.ended).toBe("ECONNRESET");
    expect(s.stats().resets).toBe(1);
  });

  it("latencyMs: a slow unit answers after a fast one, and one connection still answers in order", async () => {
    const s = await start({ faults: { units: { "2": { latencyMs: 300 } } } });
    const slow = await client(s, 2);
    const fast = await client(s, 1);
    slow.setTimeout(5000);
    const order: string[] = [];
    const a = slow.readHoldingRegisters(0, 1).then(() => order.push("slow"));
    await until(() => s.stats().requests === 1, "the slow request to arrive");
    const b = fast.readHoldingRegisters(10, 1).then(() => order.push("fast"));
    await Promise.all([a, b]);
    expect(order).toEqual(["fast", "slow"]);

    // Pipelined on one connection: the slow unit's reply still comes first.
    const r = await raw(s);
    r.socket.write(Buffer.concat([request(1, 2, [3, 0, 0, 0, 1]), request(2, 1, [3, 0, 10, 0, 1])]));
    await until(() => r.received().length >= 22, "both replies");
    expect([...r.received()]).toEqual([...request(1, 2, [3, 2, 0, 2]), ...request(2, 1, [3, 2, 0, 50])]);
  });

  it("goOffline: every client is dropped, connections are refused, and it is back on the same port after N s", async () => {
    const s = await start();
    const c = await client(s);
    await s.goOffline(1);
    await until(() => !c.isOpen, "the client to be dropped");
    expect(s.stats()).toMatchObject({ offline: true, connections: 0 });
    expect(await connectOnce(s.port)).toBe("ECONNREFUSED");
    // Bounded wait for the automatic return (1 s), then a client works again on the same port.
    await until(async () => (await connectOnce(s.port)) === "connected", "the simulator to listen again", 5000);
    expect(s.stats().offline).toBe(false);
    const back = await client(s);
    expect((await back.readHoldingRegisters(10, 1)).data).toEqual([50]);
  });

  it("goOffline for one unit: the TCP side answers it with 0x0B like a gateway, the others work", async () => {
    const s = await start();
    const c = await client(s);
    await s.goOffline(60, 1);
    await expect(c.readHoldingRegisters(10, 1)).rejects.toMatchObject({ modbusCode: 0x0b });
    c.setID(2);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([2]);
    await s.goOnline(1);
    c.setID(1);
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([50]);
  });

  it("takes its faults from the profile, lets the option replace them, and refuses bad ones", async () => {
    const s = await start({ profile: { ...profile, faults: { units: { "1": { exception: { code: 6 } } } } } });
    const c = await client(s);
    await expect(c.readHoldingRegisters(10, 1)).rejects.toMatchObject({ modbusCode: 6 });
    expect(() => s.setFaults({ dropRate: 2 })).toThrow(/dropRate/);
    await expect(c.readHoldingRegisters(10, 1)).rejects.toMatchObject({ modbusCode: 6 }); // kept
    await s.stop();

    const replaced = await start({ profile: { ...profile, faults: { dropRate: 1 } }, faults: {} });
    const c2 = await client(replaced);
    expect((await c2.readHoldingRegisters(10, 1)).data).toEqual([50]);
    await expect(startModbusSimulator({ port: 0, faults: { latencyMs: -5 } })).rejects.toMatchObject({ code: "SIM_FAULTS_INVALID" });
  });

  it("counts requests per function code and unit, so a test can count a client's requests", async () => {
    const s = await start();
    const c = await client(s);
    for (let i = 0; i < 3; i++) await c.readHoldingRegisters(10, 1);
    await c.writeRegisters(20, [1, 2]);
    c.setID(2);
    await c.readHoldingRegisters(0, 1);
    expect(s.stats()).toMatchObject({ requests: 5, replies: 5, byFunction: { 3: 4, 16: 1 }, byUnit: { 1: 4, 2: 1 } });
  });
});
