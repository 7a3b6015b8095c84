import { afterEach, describe, expect, it } from "vitest";
import { createServer, Socket, type AddressInfo, type Server } from "node:net";
import { ModbusTcpClient, RepeatingRead } from "../../../edge/drivers/modbus/tcp-client.js";
import { classifyModbusError, ModbusRequestError } from "../../../edge/drivers/modbus/errors.js";
import { ModbusDriver } from "../../../edge/drivers/modbus/driver.js";
import { modbusTcpDeviceSchema } from "../../../edge/drivers/modbus/config.js";
import { SharedResources } from "../../../edge/drivers/shared.js";
import type { Sample } from "../../../edge/model.js";
import { testLogger } from "../../helpers/logger.js";
import { waitFor } from "../../helpers/ports.js";

/**
 * Our Modbus TCP client (and the driver over it) against a tiny server written here byte by byte (no
 * shared codec): each test decides exactly which bytes go back, how they are split, and when.
 */

interface Request {
  tid: number;
  unit: number;
  fc: number;
  /** The PDU after the function code. */
  body: Buffer;
  raw: Buffer;
}

type Handler = (req: Request, socket: Socket, server: TestServer) => void;

interface TestServer {
  port: number;
  requests: Request[];
  sockets: Socket[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const clients: ModbusTcpClient[] = [];

/** A server that splits the incoming stream into MBAP request frames and hands each to `handler`. */
async function startServer(handler: Handler): Promise<TestServer> {
  const sockets: Socket[] = [];
  const requests: Request[] = [];
  let me!: TestServer;
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    let buf = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 7 && buf.length >= 6 + buf.readUInt16BE(4)) {
        const end = 6 + buf.readUInt16BE(4);
        const raw = buf.subarray(0, end);
        buf = buf.subarray(end);
        const req: Request = { tid: raw.readUInt16BE(0), unit: raw[6]!, fc: raw[7]!, body: Buffer.from(raw.subarray(8)), raw: Buffer.from(raw) };
        requests.push(req);
        handler(req, socket, me);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  me = {
    port: (server.address() as AddressInfo).port,
    requests,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  servers.push(me);
  return me;
}

/** An MBAP frame: transaction id, protocol 0, length, unit id, then the PDU bytes. */
function frame(tid: number, unit: number, pdu: number[]): Buffer {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(pdu.length + 1, 4);
  b[6] = unit;
  Buffer.from(pdu).copy(b, 7);
  return b;
}

/** The answer to a register read whose register i holds `value(address + i)`. */
function registersAnswer(req: Request, value: (address: number) => number = (a) => a * 3 + 1): Buffer {
  const address = req.body.readUInt16BE(0);
  const count = req.body.readUInt16BE(2);
  const data: number[] = [];
  for (let i = 0; i < count; i++) {
    const v = value(address + i) & 0xffff;
    data.push(v >> 8, v & 0xff);
  }
  return frame(req.tid, req.unit, [req.fc, count * 2, ...data]);
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function client(port: number, options: { timeoutMs?: number; maxInFlight?: number } = {}): Promise<ModbusTcpClient> {
  const c = new ModbusTcpClient({ host: "127.0.0.1", port, timeoutMs: options.timeoutMs ?? 2000, maxInFlight: options.maxInFlight ?? 1 });
  clients.push(c);
  await c.connect();
  return c;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejection(p: Promise<unknown>): Promise<ModbusRequestError> {
  const err = await p.then(
    () => {
      throw new Error("expected the request to fail");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModbusRequestError);
  return err as ModbusRequestError;
}

describe("ModbusTcpClient framing", () => {
  it("sends a well-formed MBAP request and decodes registers from an answer split into pieces", async () => {
    const server = await startServer((req, socket) => {
      const answer = registersAnswer(req);
      // Header split mid-way, then the body in two more pieces, each on its own tick.
      void (async () => {
        socket.write(answer.subarray(0, 3));
        await delay(10);
        socket.write(answer.subarray(3, 9));
        await delay(10);
        socket.write(answer.subarray(9));
      })();
    });
    const c = await client(server.port);
    c.setID(17);
    const r = await c.readHoldingRegisters(100, 125);
    expect(r.data).toHaveLength(125);
    expect(r.data[0]).toBe(301);
    expect(r.data[124]).toBe((224 * 3 + 1) & 0xffff);
    const req = server.requests[0]!;
    // tid, protocol 0, length 6, unit 17, function 3, address 100, quantity 125
    expect([...req.raw.subarray(2)]).toEqual([0, 0, 0, 6, 17, 3, 0, 100, 0, 125]);
  });

  it("matches two answers that arrive in one chunk (in reverse order) by transaction id", async () => {
    const held: Request[] = [];
    const server = await startServer((req, socket) => {
      held.push(req);
      if (held.length === 2) socket.write(Buffer.concat([registersAnswer(held[1]!, () => 2222), registersAnswer(held[0]!, () => 1111)]));
    });
    const c = await client(server.port, { maxInFlight: 2 });
    const [a, b] = await Promise.all([c.readHoldingRegisters(0, 2), c.readInputRegisters(0, 3)]);
    expect(a.data).toEqual([1111, 1111]);
    expect(b.data).toEqual([2222, 2222, 2222]);
    expect(server.requests[0]!.tid).not.toBe(server.requests[1]!.tid);
    expect(server.requests.map((r) => r.fc)).toEqual([3, 4]);
  });

  it("reassembles a chunk holding one answer and the start of the next, then the rest", async () => {
    const held: Request[] = [];
    const server = await startServer((req, socket) => {
      held.push(req);
      if (held.length < 3) return;
      const stream = Buffer.concat(held.map((r, i) => registersAnswer(r, (a) => a + 100 * i)));
      void (async () => {
        // Each answer is 17 bytes: frame 1 + 8 bytes of frame 2 | the other 9 + 6 bytes of frame 3 | the rest.
        socket.write(stream.subarray(0, 25));
        await delay(10);
        socket.write(stream.subarray(25, 40));
        await delay(10);
        socket.write(stream.subarray(40));
      })();
    });
    const c = await client(server.port, { maxInFlight: 3 });
    const results = await Promise.all([c.readHoldingRegisters(0, 4), c.readHoldingRegisters(10, 4), c.readHoldingRegisters(20, 4)]);
    expect(results.map((r) => r.data)).toEqual([
      [0, 1, 2, 3],
      [110, 111, 112, 113],
      [220, 221, 222, 223],
    ]);
    expect(c.isOpen).toBe(true);
  });

  it("with maxInFlight 1 sends the next request only after the previous answer", async () => {
    let outstanding = 0;
    let most = 0;
    const server = await startServer((req, socket) => {
      outstanding++;
      most = Math.max(most, outstanding);
      setTimeout(() => {
        outstanding--;
        socket.write(registersAnswer(req));
      }, 5);
    });
    const c = await client(server.port, { maxInFlight: 1 });
    const results = await Promise.all([0, 10, 20, 30].map((a) => c.readHoldingRegisters(a, 1)));
    expect(results.map((r) => r.data[0])).toEqual([1, 31, 61, 91]);
    expect(most).toBe(1);
  });

  it("with maxInFlight 3 keeps at most three requests outstanding", async () => {
    const held: Request[] = [];
    let most = 0;
    let socketRef: Socket | undefined;
    const server = await startServer((req, socket) => {
      socketRef = socket;
      held.push(req);
      most = Math.max(most, held.length);
    });
    const c = await client(server.port, { maxInFlight: 3 });
    const all = Promise.all([0, 1, 2, 3, 4].map((a) => c.readHoldingRegisters(a, 1)));
    // Answer whatever is outstanding until all five are done.
    while (server.requests.length < 5 || held.length > 0) {
      await delay(5);
      for (const r of held.splice(0)) socketRef?.write(registersAnswer(r));
    }
    expect((await all).map((r) => r.data[0])).toEqual([1, 4, 7, 10, 13]);
    expect(most).toBe(3);
  });

  it("decodes coils and discrete inputs bit by bit, least significant bit first", async () => {
    const server = await startServer((req, socket) => {
      // 10 bits: 1,0,1,1,0,0,0,0 | 0,1
      socket.write(frame(req.tid, req.unit, [req.fc, 2, 0b0000_1101, 0b0000_0010]));
    });
    const c = await client(server.port);
    expect((await c.readCoils(0, 10)).data).toEqual([true, false, true, true, false, false, false, false, false, true]);
    expect((await c.readDiscreteInputs(5, 10)).data).toEqual([true, false, true, true, false, false, false, false, false, true]);
    expect(server.requests.map((r) => r.fc)).toEqual([1, 2]);
  });

  it("writes with functions 5, 6, 15, 16 and 22 and checks each echo", async () => {
    const server = await startServer((req, socket) => {
      // Functions 5, 6, 22 echo the request; 15 and 16 echo address and quantity.
      const echo = req.fc === 15 || req.fc === 16 ? [...req.body.subarray(0, 4)] : [...req.body];
      socket.write(frame(req.tid, req.unit, [req.fc, ...echo]));
    });
    const c = await client(server.port);
    await expect(c.writeCoil(7, true)).resolves.toEqual({ address: 7, quantity: 1 });
    await c.writeRegister(8, 0xbeef);
    await expect(c.writeCoils(9, [true, false, true, true, false, false, false, false, true])).resolves.toEqual({ address: 9, quantity: 9 });
    await c.writeRegisters(10, [1, 0xffff]);
    await c.maskWriteRegister(11, 0xffef, 0x0010);
    const bodies = server.requests.map((r) => [r.fc, ...r.body]);
    expect(bodies).toEqual([
      [5, 0, 7, 0xff, 0x00],
      [6, 0, 8, 0xbe, 0xef],
      [15, 0, 9, 0, 9, 2, 0b0000_1101, 0b0000_0001],
      [16, 0, 10, 0, 2, 4, 0, 1, 0xff, 0xff],
      [22, 0, 11, 0xff, 0xef, 0x00, 0x10],
    ]);
  });

  it("refuses out-of-range arguments before sending anything", async () => {
    const server = await startServer(() => undefined);
    const c = await client(server.port);
    expect((await rejection(c.readHoldingRegisters(0, 126))).message).toMatch(/1\.\.125/);
    expect((await rejection(c.readHoldingRegisters(65535, 2))).message).toMatch(/outside/);
    expect((await rejection(c.writeRegister(0, 70000))).message).toMatch(/0\.\.65535/);
    await delay(20);
    expect(server.requests).toHaveLength(0);
  });
});

describe("ModbusTcpClient failures", () => {
  it("turns an exception answer into an error carrying modbusCode and the exception's name", async () => {
    const server = await startServer((req, socket) => socket.write(frame(req.tid, req.unit, [req.fc | 0x80, 0x02])));
    const c = await client(server.port);
    const err = await rejection(c.readHoldingRegisters(9000, 4));
    expect(err.kind).toBe("exception");
    expect(err.modbusCode).toBe(2);
    expect(err.message).toMatch(/Illegal data address/);
    expect(classifyModbusError(err)).toMatchObject({ kind: "exception", retryable: false });
    expect(c.isOpen).toBe(true); // an exception is an answer, not a broken link
  });

  it("names gateway exceptions (0x0B)", async () => {
    const server = await startServer((req, socket) => socket.write(frame(req.tid, req.unit, [req.fc | 0x80, 0x0b])));
    const c = await client(server.port);
    const err = await rejection(c.writeRegister(1, 2));
    expect(err.message).toMatch(/0x0B.*Gateway target device failed to respond/);
  });

  it("times a request out, drops its late answer, and carries on with the next request", async () => {
    let first = true;
    const server = await startServer((req, socket) => {
      if (first) {
        first = false;
        setTimeout(() => socket.write(registersAnswer(req, () => 666)), 150); // after the timeout
        return;
      }
      setTimeout(() => socket.write(registersAnswer(req, () => 42)), 200); // after the late answer above
    });
    const c = await client(server.port, { timeoutMs: 60 });
    const started = Date.now();
    const err = await rejection(c.readHoldingRegisters(0, 1));
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(err.kind).toBe("timeout");
    expect(err.message).toMatch(/timed out after 60 ms/);
    expect(classifyModbusError(err)).toMatchObject({ kind: "timeout", retryable: true });
    c.setTimeout(1000);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([42]); // not the late 666
    expect(c.staleResponses).toBe(1);
    expect(c.isOpen).toBe(true);
  });

  it("ignores an answer with a wrong transaction id: the request times out, or takes the right answer that follows", async () => {
    let n = 0;
    const server = await startServer((req, socket) => {
      n++;
      const wrong = registersAnswer({ ...req, tid: (req.tid + 1000) & 0xffff }, () => 13);
      socket.write(wrong);
      if (n === 2) setTimeout(() => socket.write(registersAnswer(req, () => 7)), 10);
    });
    const c = await client(server.port, { timeoutMs: 80 });
    expect((await rejection(c.readHoldingRegisters(0, 1))).kind).toBe("timeout");
    c.setTimeout(2000);
    expect((await c.readHoldingRegisters(0, 1)).data).toEqual([7]);
    expect(c.staleResponses).toBe(2);
  });

  it("rejects a well-framed answer that does not fit its request as corrupt and keeps the connection", async () => {
    const answers = [
      (req: Request) => frame(req.tid, req.unit, [req.fc, 4, 0, 1, 0, 2]), // 2 registers for a read of 3
      (req: Request) => frame(req.tid, req.unit, [req.fc, 6, 0, 1]), // byte count says 6, 2 bytes follow
      (req: Request) => frame(req.tid, req.unit, [4, 2, 0, 1]), // function 4 in the answer to function 3
      (req: Request) => frame(req.tid, req.unit, [req.fc | 0x80]), // exception without its code
      (req: Request) => frame(req.tid, req.unit, [6, 0, 99, 0, 1]), // write echo with another address
    ];
    let i = 0;
    const server = await startServer((req, socket) => socket.write(answers[i++]!(req)));
    const c = await client(server.port);
    for (let k = 0; k < 4; k++) {
      const err = await rejection(c.readHoldingRegisters(0, 3));
      expect(err.kind).toBe("corrupt");
      expect(err.message).toMatch(/malformed answer to read holding registers/);
      expect(classifyModbusError(err)).toMatchObject({ kind: "corrupt", retryable: true });
      expect(c.isOpen).toBe(true);
    }
    expect((await rejection(c.writeRegister(5, 1))).message).toMatch(/does not echo/);
    expect(server.requests).toHaveLength(5);
  });

  it("resets the connection on garbage it cannot re-synchronise after", async () => {
    const server = await startServer((req, socket) => socket.write(Buffer.from("HTTP/1.1 400 Bad Request\r\n\r\n")));
    const c = await client(server.port, { maxInFlight: 2 });
    const [a, b] = await Promise.allSettled([c.readHoldingRegisters(0, 1), c.readHoldingRegisters(1, 1)]);
    for (const r of [a, b]) {
      expect(r.status).toBe("rejected");
      const err = (r as PromiseRejectedResult).reason as ModbusRequestError;
      expect(err.kind).toBe("corrupt");
      expect(err.message).toMatch(/protocol id .* connection reset/);
    }
    expect(c.isOpen).toBe(false);
    const after = await rejection(c.readHoldingRegisters(0, 1));
    expect(classifyModbusError(after).kind).toBe("connection");
    // It can connect again.
    await c.connect();
    expect(c.isOpen).toBe(true);
  });

  it("a frame header with an impossible length is garbage too", async () => {
    const server = await startServer((req, socket) => {
      const b = frame(req.tid, req.unit, [3, 2, 0, 1]);
      b.writeUInt16BE(1000, 4);
      socket.write(b);
    });
    const c = await client(server.port);
    expect((await rejection(c.readHoldingRegisters(0, 1))).message).toMatch(/impossible length 1000/);
    expect(c.isOpen).toBe(false);
  });

  it("a short answer followed by silence times out and resets the connection (the stream cannot be trusted)", async () => {
    const server = await startServer((req, socket) => socket.write(registersAnswer(req).subarray(0, 8)));
    const c = await client(server.port, { timeoutMs: 80 });
    expect((await rejection(c.readHoldingRegisters(0, 2))).kind).toBe("timeout");
    // Without the reset, the rest of this frame could arrive glued to the next answer and be misread.
    expect(c.isOpen).toBe(false);
    await c.connect();
    expect(c.isOpen).toBe(true);
  });

  it("a short answer followed by the device closing fails as a connection error", async () => {
    const server = await startServer((req, socket) => {
      socket.write(registersAnswer(req).subarray(0, 8));
      setTimeout(() => socket.destroy(), 20);
    });
    const c = await client(server.port, { timeoutMs: 1000 });
    const err = await rejection(c.readHoldingRegisters(0, 2));
    expect(err.kind).toBe("connection");
    expect(c.isOpen).toBe(false);
  });

  it("an answer split across reads that completes in time is not mistaken for a stale fragment", async () => {
    const server = await startServer((req, socket) => {
      const answer = registersAnswer(req);
      socket.write(answer.subarray(0, 5));
      setTimeout(() => socket.write(answer.subarray(5)), 30);
    });
    const c = await client(server.port, { timeoutMs: 200 });
    for (let i = 0; i < 3; i++) expect((await c.readHoldingRegisters(i, 2)).data).toEqual([i * 3 + 1, i * 3 + 4]);
    expect(c.isOpen).toBe(true);
  });

  it("fails outstanding requests when the device closes the connection, and refuses new ones at once", async () => {
    const server = await startServer((_req, socket) => socket.end());
    const c = await client(server.port);
    const err = await rejection(c.readHoldingRegisters(0, 1));
    expect(err.kind).toBe("connection");
    expect(classifyModbusError(err)).toMatchObject({ kind: "connection", retryable: false });
    expect(c.isOpen).toBe(false);
    const next = await rejection(c.readHoldingRegisters(0, 1));
    expect(next.message).toMatch(/not connected/);
  });

  it("fails outstanding requests on close()", async () => {
    const server = await startServer(() => undefined);
    const c = await client(server.port);
    const pending = c.readHoldingRegisters(0, 1);
    await c.close();
    expect((await rejection(pending)).kind).toBe("connection");
  });

  it("reports a refused connection as a connection error", async () => {
    const server = await startServer(() => undefined);
    const port = server.port;
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    const c = new ModbusTcpClient({ host: "127.0.0.1", port, timeoutMs: 500 });
    clients.push(c);
    const err = await rejection(c.connect());
    expect(err.kind).toBe("connection");
    expect(err.code).toBe("ECONNREFUSED");
    expect(classifyModbusError(err).kind).toBe("connection");
    expect(c.isOpen).toBe(false);
  });

  it("several connects at once share one connection", async () => {
    const server = await startServer(() => undefined);
    const c = new ModbusTcpClient({ host: "127.0.0.1", port: server.port });
    clients.push(c);
    await Promise.all([c.connect(), c.connect(), c.connect()]);
    await delay(20);
    expect(server.sockets).toHaveLength(1);
  });
});

describe("RepeatingRead (the driver's polls)", () => {
  /** A RepeatingRead whose outcomes are recorded as they arrive (values copied: the array is reused). */
  function repeating(fc: 1 | 2 | 3 | 4, address: number, quantity: number, unit: number, timeoutMs: number) {
    const outcomes: Array<{ err: Error | null; values: Array<number | boolean> | null; sync: boolean }> = [];
    let inCall = false;
    const read = new RepeatingRead(fc, address, quantity, unit, timeoutMs, (err, values) => {
      outcomes.push({ err, values: values && [...values], sync: inCall });
    });
    const send = (c: ModbusTcpClient) => {
      inCall = true;
      try {
        c.readAgain(read);
      } finally {
        inCall = false;
      }
    };
    return { read, outcomes, send };
  }

  it("sends the same frame each time with its own unit id and a fresh transaction id, and decodes each answer", async () => {
    let n = 0;
    const server = await startServer((req, socket) => socket.write(registersAnswer(req, (a) => a + 1000 * ++n)));
    const c = await client(server.port);
    c.setID(3); // the promise API's unit id: not the RepeatingRead's
    const r = repeating(4, 10, 2, 9, 1000);
    r.send(c);
    await waitFor("first answer", () => r.outcomes[0]);
    r.send(c);
    await waitFor("second answer", () => r.outcomes[1]);
    expect(r.outcomes).toEqual([
      { err: null, values: [1010, 2011], sync: false },
      { err: null, values: [3010, 4011], sync: false },
    ]);
    expect(server.requests.map((q) => [q.unit, q.fc, q.body.readUInt16BE(0), q.body.readUInt16BE(2)])).toEqual([
      [9, 4, 10, 2],
      [9, 4, 10, 2],
    ]);
    expect(server.requests[0]!.tid).not.toBe(server.requests[1]!.tid);
  });

  it("fails with a timeout, and refuses a second send while one is outstanding", async () => {
    const server = await startServer(() => undefined); // never answers
    const c = await client(server.port);
    const r = repeating(3, 0, 1, 1, 50);
    r.send(c);
    expect(() => r.send(c)).toThrow(/still outstanding/);
    await waitFor("the timeout", () => r.outcomes[0]);
    expect(r.outcomes[0]!.values).toBeNull();
    expect(r.outcomes[0]!.err).toMatchObject({ kind: "timeout" });
    expect(server.requests).toHaveLength(1);
  });

  it("fails at once, synchronously, without a connection; and with the connection when it closes", async () => {
    const server = await startServer(() => undefined);
    const c = await client(server.port);
    const r = repeating(3, 0, 1, 1, 5000);
    r.send(c);
    await c.close();
    expect(r.outcomes[0]!.err).toMatchObject({ kind: "connection" });
    r.send(c);
    expect(r.outcomes[1]).toMatchObject({ err: { kind: "connection", code: "ENOTCONN" }, values: null, sync: true });
  });

  it("with maxInFlight > 1, writes the reads of several timers that fire in one event-loop turn in one go", async () => {
    // Counts the socket's writes to the kernel: _writev carries what a cork held back, _write one buffer.
    const proto = Socket.prototype as unknown as Record<"_write" | "_writev", (this: Socket, ...args: unknown[]) => void>;
    const original = { _write: proto._write, _writev: proto._writev };
    const writes: number[] = [];
    const server = await startServer((req, socket) => socket.write(registersAnswer(req)));
    proto._write = function (...args) {
      if (this.remotePort === server.port) writes.push(1);
      original._write.apply(this, args);
    };
    proto._writev = function (...args) {
      if (this.remotePort === server.port) writes.push((args[0] as unknown[]).length);
      original._writev.apply(this, args);
    };
    try {
      const c = await client(server.port, { maxInFlight: 8 });
      // Three devices' timers due at the same moment: one timers phase, process.nextTick runs between them.
      const reads = [0, 10, 20].map((a) => repeating(3, a, 1, a + 1, 1000));
      for (const r of reads) setTimeout(() => r.send(c), 5);
      await waitFor("three answers", () => (reads.every((r) => r.outcomes.length === 1) ? true : undefined));
      expect(reads.map((r) => r.outcomes[0]!.values)).toEqual([[1], [31], [61]]);
      expect(server.requests.map((q) => q.unit)).toEqual([1, 11, 21]);
      expect(writes).toEqual([3]);
    } finally {
      Object.assign(proto, original);
    }
  });

  it("refuses an invalid read when it is made", () => {
    expect(() => new RepeatingRead(3, 0, 126, 1, 1000, () => undefined)).toThrow(/1..125 registers/);
  });
});

describe("ModbusDriver over the TCP client", () => {
  const drivers: ModbusDriver[] = [];
  afterEach(async () => {
    await Promise.all(drivers.splice(0).map((d) => d.stop()));
  });

  function driver(port: number, extra: Record<string, unknown> = {}): { d: ModbusDriver; samples: Sample[] } {
    const config = modbusTcpDeviceSchema.parse({
      id: "plc",
      protocol: "modbus-tcp",
      host: "127.0.0.1",
      port,
      pollMs: 60_000,
      timeoutMs: 500,
      maxGap: 4,
      points: [
        { id: "a", register: 0 },
        { id: "b", register: 200 },
        { id: "c", table: "input", register: 7 },
      ],
      ...extra,
    });
    const d = new ModbusDriver(config, { logger: testLogger(), clock: Date.now, shared: new SharedResources() });
    drivers.push(d);
    const samples: Sample[] = [];
    void d.start((batch) => samples.push(...batch));
    return { d, samples };
  }

  /** A server answering each read after `ms`, recording the most requests it held at once. */
  async function slowServer(ms: number) {
    let outstanding = 0;
    const stats = { most: 0 };
    const server = await startServer((req, socket) => {
      outstanding++;
      stats.most = Math.max(stats.most, outstanding);
      setTimeout(() => {
        outstanding--;
        socket.write(registersAnswer(req));
      }, ms);
    });
    return { server, stats };
  }

  it("polls every pollMs, and counts the slots a slow cycle overran instead of piling polls up", async () => {
    const { server, stats } = await slowServer(45);
    const { d } = driver(server.port, { pollMs: 20, points: [{ id: "a", register: 0 }] });
    await waitFor("three polls", () => (d.status().counters.polls >= 3 ? true : undefined));
    // Each 45 ms cycle spans two 20 ms slots: at least one of them is skipped per poll, and never two polls at once.
    expect(d.status().counters.overruns).toBeGreaterThanOrEqual(2);
    expect(stats.most).toBe(1);
    expect(d.status().counters.errors).toBe(0);
  });

  it("by default sends one request at a time", async () => {
    const { server, stats } = await slowServer(15);
    const { samples } = driver(server.port);
    await waitFor("a poll", () => (samples.length >= 3 ? true : undefined));
    expect(Object.fromEntries(samples.map((s) => [s.point, s.value]))).toEqual({ a: 1, b: 601, c: 22 });
    expect(stats.most).toBe(1);
  });

  it("with maxInFlight sends a poll's reads together and still delivers them in plan order", async () => {
    const { server, stats } = await slowServer(15);
    const { samples, d } = driver(server.port, { maxInFlight: 4 });
    await waitFor("a poll", () => (samples.length >= 3 ? true : undefined));
    expect(samples.map((s) => [s.point, s.value, s.quality])).toEqual([
      ["a", 1, "good"],
      ["b", 601, "good"],
      ["c", 22, "good"],
    ]);
    expect(stats.most).toBe(3);
    expect(d.status().counters.requests).toBe(3);
  });

  it("counts malformed answers as corrupt, retries them, and marks only that request's points bad", async () => {
    const server = await startServer((req, socket) => {
      if (req.fc === 4) socket.write(frame(req.tid, req.unit, [4, 4, 0, 1])); // byte count 4, 2 bytes
      else socket.write(registersAnswer(req));
    });
    const { samples, d } = driver(server.port, { retries: 1 });
    await waitFor("a poll", () => (samples.length >= 3 ? true : undefined));
    const c = samples.find((s) => s.point === "c");
    expect(c).toMatchObject({ quality: "bad", value: null });
    expect(c?.reason).toMatch(/^corrupt: malformed answer to read input registers/);
    expect(samples.filter((s) => s.quality === "good").map((s) => s.point)).toEqual(["a", "b"]);
    const status = d.status();
    expect(status.errorsByKind?.corrupt).toBe(2); // first attempt + one retry
    expect(status.connected).toBe(true);
  });

  it("after garbage resets the connection, reports the device bad and reconnects on its own", async () => {
    let first = true;
    const server = await startServer((req, socket) => {
      if (first) {
        first = false;
        socket.write(Buffer.from("garbage garbage"));
      } else socket.write(registersAnswer(req));
    });
    const { samples, d } = driver(server.port, { pollMs: 100 });
    await waitFor("good samples after the reset", () => (samples.some((s) => s.quality === "good") ? true : undefined), 10_000);
    expect(samples.filter((s) => s.quality === "bad").length).toBeGreaterThanOrEqual(1);
    expect(server.sockets.length).toBe(2);
    expect(d.status().errorsByKind?.corrupt).toBe(1);
    expect(d.status().connected).toBe(true);
  });
});
