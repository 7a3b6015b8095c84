import { describe, expect, it } from "vitest";
import { ModbusLink, type ModbusClient } from "../../../edge/drivers/modbus/link.js";

/**
 * The link's turn-taking on a serial line, with a client that only records calls and answers when
 * the test says so (the wire protocol is tested elsewhere against real sockets).
 */
class RecordingClient implements ModbusClient {
  isOpen = true;
  unit = 0;
  timeout = 0;
  readonly log: string[] = [];
  readonly open: Array<{ what: string; finish: (ok: boolean) => void }> = [];

  private call<T>(what: string, value: T): Promise<T> {
    this.log.push(`start ${what} unit ${this.unit} timeout ${this.timeout}`);
    return new Promise<T>((resolve, reject) => {
      this.open.push({
        what,
        finish: (ok) => {
          this.log.push(`end ${what}`);
          if (ok) resolve(value);
          else reject(new Error(`${what} failed`));
        },
      });
    });
  }

  connect = () => Promise.resolve();
  close = () => Promise.resolve();
  setID = (id: number) => void (this.unit = id);
  setTimeout = (ms: number) => void (this.timeout = ms);
  readCoils = (a: number) => this.call(`coils ${a}`, { data: [true] });
  readDiscreteInputs = (a: number) => this.call(`discrete ${a}`, { data: [true] });
  readHoldingRegisters = (a: number) => this.call(`holding ${a}`, { data: [a] });
  readInputRegisters = (a: number) => this.call(`input ${a}`, { data: [a] });
  writeCoil = (a: number) => this.call(`write coil ${a}`, {});
  writeCoils = (a: number) => this.call(`write coils ${a}`, {});
  writeRegister = (a: number) => this.call(`write register ${a}`, {});
  writeRegisters = (a: number) => this.call(`write registers ${a}`, {});
  maskWriteRegister = (a: number) => this.call(`mask ${a}`, {});
}

const tick = () => new Promise((r) => setImmediate(r));

describe("ModbusLink", () => {
  it("on a serial line runs one request at a time, in order, each with its own unit id and timeout", async () => {
    const client = new RecordingClient();
    const link = new ModbusLink("rtu:///dev/test", client, { exclusive: true });
    const a = link.run(3, 100, (c) => c.readHoldingRegisters(1, 1));
    const b = link.run(4, 200, (c) => c.readHoldingRegisters(2, 1)).then(
      () => "resolved",
      (e: Error) => e.message,
    );
    const w = link.run(5, 300, (c) => c.writeRegister(3, 1));
    await tick();
    expect(client.open.map((o) => o.what)).toEqual(["holding 1"]);
    client.open.shift()!.finish(true);
    await tick();
    expect(client.open.map((o) => o.what)).toEqual(["holding 2"]);
    client.open.shift()!.finish(false); // a failure does not stall the line
    await tick();
    client.open.shift()!.finish(true);
    await expect(a).resolves.toEqual({ data: [1] });
    await expect(b).resolves.toBe("holding 2 failed");
    await expect(w).resolves.toEqual({});
    expect(client.log).toEqual([
      "start holding 1 unit 3 timeout 100",
      "end holding 1",
      "start holding 2 unit 4 timeout 200",
      "end holding 2",
      "start write register 3 unit 5 timeout 300",
      "end write register 3",
    ]);
  });

  it("keeps the inter-frame quiet time between one answer and the next request", async () => {
    const client = new RecordingClient();
    const link = new ModbusLink("rtu:///dev/test", client, { exclusive: true, interFrameDelayMs: 40 });
    const a = link.run(1, 100, (c) => c.readHoldingRegisters(1, 1));
    const b = link.run(1, 100, (c) => c.readHoldingRegisters(2, 1));
    await tick();
    const answeredAt = performance.now();
    client.open.shift()!.finish(true);
    await a;
    while (client.open.length === 0) await new Promise((r) => setTimeout(r, 2));
    expect(performance.now() - answeredAt).toBeGreaterThanOrEqual(35);
    client.open.shift()!.finish(true);
    await b;
  });

  it("on TCP hands requests straight to the client, which limits what is in flight", async () => {
    const client = new RecordingClient();
    const link = new ModbusLink("tcp://x:502", client, { exclusive: false, maxInFlight: 4 });
    expect(link.maxInFlight).toBe(4);
    const all = [1, 2, 3].map((n) => link.run(1, 100, (c) => c.readHoldingRegisters(n, 1)));
    expect(client.open.map((o) => o.what)).toEqual(["holding 1", "holding 2", "holding 3"]);
    for (const o of client.open.splice(0)) o.finish(true);
    await Promise.all(all);
  });

  it("turns a request function that throws into a rejection", async () => {
    const link = new ModbusLink("rtu:///dev/test", new RecordingClient(), { exclusive: true });
    await expect(
      link.run(1, 100, () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    // ... and the line is free again.
    const client = new RecordingClient();
    const again = new ModbusLink("rtu:///dev/test", client, { exclusive: true });
    const p = again.run(1, 1, (c) => c.readCoils(0, 1));
    await tick();
    client.open.shift()!.finish(true);
    await expect(p).resolves.toEqual({ data: [true] });
  });
});
