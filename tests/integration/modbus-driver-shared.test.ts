import { afterEach, describe, expect, it } from "vitest";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { ModbusDriver } from "../../edge/drivers/modbus/driver.js";
import { modbusTcpDeviceSchema } from "../../edge/drivers/modbus/config.js";
import { SharedResources } from "../../edge/drivers/shared.js";
import { startModbusSimulator, type ModbusSimulator } from "../../simulators/modbus/index.js";
import type { ModbusProfile } from "../../simulators/modbus/profile.js";
import type { Sample } from "../../edge/model.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";

/**
 * Several Modbus TCP devices (unit ids) behind one endpoint with `connection: shared`: one connection
 * to the simulator, requests pipelined on it, each device's values and failures its own.
 */

const UNITS = [1, 2, 3, 4];

/** Each unit: holding 0 = unit × 111, holding 200 = unit × 7 (far apart: two reads per poll). */
const profile = {
  units: UNITS.map((unit) => ({
    unit,
    signals: [
      { name: `id${unit}`, table: "holding", address: 0, type: "uint16", signal: { kind: "constant", value: unit * 111 } },
      { name: `far${unit}`, table: "holding", address: 200, type: "uint16", signal: { kind: "constant", value: unit * 7 } },
    ],
  })),
} as ModbusProfile;

function device(port: number, unitId: number, extra: Record<string, unknown> = {}) {
  return modbusTcpDeviceSchema.parse({
    id: `meter${unitId}`,
    protocol: "modbus-tcp",
    host: "127.0.0.1",
    port,
    connection: "shared",
    maxInFlight: 8,
    unitId,
    pollMs: 20,
    timeoutMs: 300,
    retries: 0,
    points: [
      { id: `m${unitId}.id`, register: 0 },
      { id: `m${unitId}.far`, register: 200 },
    ],
    ...extra,
  });
}

/**
 * A TCP proxy in front of the simulator that parses the MBAP frames going each way: how many requests
 * arrived in one chunk, and how many were outstanding (sent, not yet answered) at most.
 */
async function startProxy(target: number) {
  const stats = { connections: 0, mostFramesInOneChunk: 0, mostOutstanding: 0, requests: 0 };
  let outstanding = 0;
  const frames = (chunk: Buffer): number => {
    let n = 0;
    // Loopback delivers our frames whole; a split would only lower the counts.
    for (let at = 0; at + 6 <= chunk.length; at += 6 + chunk.readUInt16BE(at + 4)) n++;
    return n;
  };
  const sockets: Socket[] = [];
  const server: Server = createServer((client) => {
    stats.connections++;
    const upstream = connect(target, "127.0.0.1");
    sockets.push(client, upstream);
    client.on("data", (chunk: Buffer) => {
      const n = frames(chunk);
      stats.requests += n;
      stats.mostFramesInOneChunk = Math.max(stats.mostFramesInOneChunk, n);
      outstanding += n;
      stats.mostOutstanding = Math.max(stats.mostOutstanding, outstanding);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      outstanding -= frames(chunk);
      client.write(chunk);
    });
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("Modbus TCP devices sharing one connection (connection: shared)", () => {
  let sim: ModbusSimulator | undefined;
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  const drivers: ModbusDriver[] = [];
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.stop();
    await proxy?.close();
    await sim?.stop();
    proxy = undefined;
    sim = undefined;
  });

  /** Starts one driver per config on one SharedResources pool; returns the latest value of every point. */
  async function startAll(configs: ReturnType<typeof device>[]) {
    const shared = new SharedResources();
    const latest = new Map<string, Sample>();
    for (const config of configs) {
      const d = new ModbusDriver(config, { logger: testLogger(), clock: Date.now, shared });
      drivers.push(d);
      await d.start((batch) => {
        for (const s of batch) latest.set(s.point, s);
      });
    }
    return latest;
  }

  const good = (latest: Map<string, Sample>, point: string) => {
    const s = latest.get(point);
    return s?.quality === "good" ? s.value : undefined;
  };

  it("polls every unit id over one connection, each device with its own values", async () => {
    sim = await startModbusSimulator({ port: 0, profile });
    const latest = await startAll(UNITS.map((u) => device(sim!.port, u)));
    for (const u of UNITS) {
      expect(await waitFor(`unit ${u}'s values`, () => good(latest, `m${u}.far`))).toBe(u * 7);
      expect(good(latest, `m${u}.id`)).toBe(u * 111);
    }
    expect(sim.stats().connections).toBe(1);
    for (const u of UNITS) expect(sim.stats().byUnit[u]).toBeGreaterThan(0);
    for (const d of drivers) {
      const s = d.status();
      expect(s.connected).toBe(true);
      expect(s.counters.errors).toBe(0);
      expect(s.counters.requests).toBeGreaterThan(0);
    }
  });

  it("pipelines: requests of devices polled together leave in one write and are outstanding together, up to maxInFlight", async () => {
    sim = await startModbusSimulator({ port: 0, profile, faults: { latencyMs: 2 } });
    proxy = await startProxy(sim.port);
    const latest = await startAll(UNITS.map((u) => device(proxy!.port, u, { maxInFlight: 6 })));
    await waitFor("every device's values", () => (UNITS.every((u) => good(latest, `m${u}.far`) === u * 7) ? true : undefined));
    await waitFor("100 requests", () => (proxy!.stats.requests >= 100 ? true : undefined));
    expect(proxy.stats.connections).toBe(1);
    // Four devices of two reads each, all due at once: more than one device's reads in one write...
    expect(proxy.stats.mostFramesInOneChunk).toBeGreaterThan(2);
    // ...and never more outstanding than the connection allows.
    expect(proxy.stats.mostOutstanding).toBeGreaterThan(2);
    expect(proxy.stats.mostOutstanding).toBeLessThanOrEqual(6);
    for (const d of drivers) expect(d.status().counters.errors).toBe(0);
  });

  it("a unit answered with an exception, or never, fails only its own device", async () => {
    // Unit 3 never answers; unit 9 is not in the profile: the simulator answers 0x0B like a gateway.
    sim = await startModbusSimulator({ port: 0, profile, faults: { units: { "3": { dropRate: 1 } } } });
    const latest = await startAll([...UNITS, 9].map((u) => device(sim!.port, u, { timeoutMs: 100 })));
    await waitFor("unit 3 timed out", () => (latest.get("m3.id")?.quality === "bad" ? true : undefined));
    await waitFor("unit 9 refused", () => (latest.get("m9.id")?.quality === "bad" ? true : undefined));
    expect(latest.get("m3.id")?.reason).toMatch(/^timeout/);
    expect(latest.get("m9.id")?.reason).toMatch(/^exception/);
    // Several timeouts later, the others still read their own values on the same connection.
    await waitFor("unit 3's timeouts", () => ((drivers[2]!.status().errorsByKind?.timeout ?? 0) >= 3 ? true : undefined));
    const requestsBefore = drivers.map((d) => d.status().counters.requests);
    await waitFor("more polls", () => (drivers[0]!.status().counters.requests > requestsBefore[0]! + 5 ? true : undefined));
    for (const u of [1, 2, 4]) {
      expect(good(latest, `m${u}.id`)).toBe(u * 111);
      expect(good(latest, `m${u}.far`)).toBe(u * 7);
    }
    expect(sim.stats().connections).toBe(1);
    for (const i of [0, 1, 3]) {
      expect(drivers[i]!.status().counters.errors).toBe(0);
      expect(drivers[i]!.status().connected).toBe(true);
    }
    expect(drivers[2]!.status().connected).toBe(true);
  });

  it("when the shared connection breaks, every device on it goes bad and all reconnect together", async () => {
    sim = await startModbusSimulator({ port: 0, profile });
    const latest = await startAll(UNITS.map((u) => device(sim!.port, u)));
    await waitFor("every device's values", () => (UNITS.every((u) => good(latest, `m${u}.id`) === u * 111) ? true : undefined));
    // Offline long enough for each device's reconnect backoff (its own, with jitter) to grow past a second.
    await sim.goOffline(3);
    await waitFor("every device bad", () => (UNITS.every((u) => latest.get(`m${u}.id`)?.quality === "bad") ? true : undefined));
    const backAt = new Map<number, number>();
    await waitFor(
      "every device back",
      () => {
        for (const u of UNITS) if (!backAt.has(u) && good(latest, `m${u}.id`) === u * 111) backAt.set(u, performance.now());
        return backAt.size === UNITS.length ? true : undefined;
      },
      15_000,
      5,
    );
    // The first device to reconnect reopens the connection for all: the others need not wait out their backoff.
    const times = [...backAt.values()];
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(250);
    expect(sim.stats().connections).toBe(1);
    for (const d of drivers) expect(d.status().connected).toBe(true);
  });
});
