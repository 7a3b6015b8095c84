/**
 * One connection answers in request order whichever way its requests go: synchronously (no latency
 * fault), or held behind a reply that waits out an injected latency. Raw sockets, so the exact bytes
 * and their order are what is checked.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startModbusSimulator, type ModbusProfile, type ModbusSimulator } from "../../../simulators/modbus/index.js";

const profile: ModbusProfile = {
  units: [
    { unit: 1, signals: [{ name: "setpoint", table: "holding", address: 10, type: "uint16", writable: true, signal: { kind: "constant", value: 50 } }] },
    { unit: 2, signals: [{ name: "id", table: "holding", address: 0, type: "uint16", signal: { kind: "constant", value: 2 } }] },
  ],
};

let sim: ModbusSimulator | undefined;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await sim?.stop();
  sim = undefined;
});

function request(tx: number, unit: number, pdu: number[]): Buffer {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tx, 0);
  b.writeUInt16BE(pdu.length + 1, 4);
  b.writeUInt8(unit, 6);
  Buffer.from(pdu).copy(b, 7);
  return b;
}

async function raw(s: ModbusSimulator): Promise<{ socket: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = net.connect(s.port, "127.0.0.1");
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

async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("TCP reply order on one connection", () => {
  it("many pipelined requests without faults are answered in order, each seeing the writes before it", async () => {
    sim = await startModbusSimulator({ port: 0, profile, clock: () => 0 });
    const r = await raw(sim);
    const expected: Buffer[] = [];
    const sent: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      sent.push(request(2 * i, 1, [6, 0, 20, 0, i & 0xff]));
      expected.push(request(2 * i, 1, [6, 0, 20, 0, i & 0xff]));
      sent.push(request(2 * i + 1, 1, [3, 0, 20, 0, 1]));
      expected.push(request(2 * i + 1, 1, [3, 2, 0, i & 0xff]));
    }
    const all = Buffer.concat(sent);
    // Odd-sized pieces, so frames straddle the chunks the server sees.
    for (let off = 0; off < all.length; off += 37) r.socket.write(all.subarray(off, off + 37));
    const want = Buffer.concat(expected);
    await until(() => r.received().length >= want.length, "every reply");
    expect(r.received().equals(want)).toBe(true);
  });

  it("requests that arrive while a reply waits out its latency are answered after it, in order", async () => {
    // Long enough that the check at 50 ms can't miss the wait even on a loaded machine.
    sim = await startModbusSimulator({ port: 0, profile, clock: () => 0, faults: { units: { "2": { latencyMs: 700 } } } });
    const r = await raw(sim);
    r.socket.write(request(1, 2, [3, 0, 0, 0, 1])); // slow
    await until(() => sim?.stats().requests === 1, "the slow request");
    r.socket.write(request(2, 1, [6, 0, 10, 0, 77])); // fast, but queued behind the slow one
    r.socket.write(Buffer.concat([request(3, 2, [3, 0, 0, 0, 1]), request(4, 1, [3, 0, 10, 0, 1])])); // slow again, then fast
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.received()).toHaveLength(0);
    expect(sim.stats().requests).toBe(1); // the others wait their turn, unexecuted
    const want = Buffer.concat([
      request(1, 2, [3, 2, 0, 2]),
      request(2, 1, [6, 0, 10, 0, 77]),
      request(3, 2, [3, 2, 0, 2]),
      request(4, 1, [3, 2, 0, 77]),
    ]);
    await until(() => r.received().length >= want.length, "all four replies", 8000);
    expect(r.received().equals(want)).toBe(true);
    expect(sim.stats()).toMatchObject({ requests: 4, replies: 4 });
  });

  it("garbage behind a delayed request: the reply still goes out, then the connection closes", async () => {
    sim = await startModbusSimulator({ port: 0, profile, clock: () => 0, faults: { units: { "2": { latencyMs: 100 } } } });
    const r = await raw(sim);
    r.socket.write(Buffer.concat([request(5, 2, [3, 0, 0, 0, 1]), request(6, 1, [3, 0, 10, 0, 1]), Buffer.from("garbage!")]));
    await r.closed;
    expect(r.received().equals(Buffer.concat([request(5, 2, [3, 2, 0, 2]), request(6, 1, [3, 2, 0, 50])]))).toBe(true);
    expect(sim.stats()).toMatchObject({ framingErrors: 1, replies: 2 });
  });

  it("stop() while a reply waits: no reply, and the requests behind it are not answered", async () => {
    sim = await startModbusSimulator({ port: 0, profile, clock: () => 0, faults: { units: { "2": { latencyMs: 60_000 } } } });
    const r = await raw(sim);
    r.socket.write(Buffer.concat([request(1, 2, [3, 0, 0, 0, 1]), request(2, 1, [3, 0, 10, 0, 1])]));
    await until(() => sim?.stats().requests === 1, "the slow request");
    await sim.stop();
    await r.closed;
    expect(r.received()).toHaveLength(0);
    expect(sim.stats().replies).toBe(0);
  });
});
