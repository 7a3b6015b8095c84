import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { CliProcess, REPO, parseReadyLine } from "../helpers/cli.js";
import { waitFor } from "../helpers/ports.js";
import { telemetryBatchSchema, type TelemetryBatch } from "../../edge/uplink/batch-schema.js";

interface Status {
  version: string;
  deviceId: string;
  pid: number;
  uptimeS: number;
  drivers: Array<{ id: string; connected: boolean; counters: { requests: number; samples: number } }>;
  outbox: { pending: number; sent: number; dropped: { total: number }; lastSeq: number };
  uplink: { connected: boolean } | null;
}

const getJson = async <T>(url: string): Promise<{ status: number; body: T }> => {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
};

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

describe("edge-agent sim (the simulator mode, as a user runs it)", () => {
  let sim: CliProcess;
  let ready: Record<string, string>;
  let dataDir: string;
  let sub: mqtt.MqttClient;
  const batches: TelemetryBatch[] = [];
  const states: string[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "edge-sim-e2e-"));
    sim = new CliProcess(["sim", "--mqtt-port", "0", "--api-port", "0", "--modbus-port", "0", "--opcua-port", "0", "--data-dir", dataDir]);
    const line = await sim.waitForLine(/^ready .*api=/, 30_000);
    ready = parseReadyLine(line);
    // An independent subscriber: it shares nothing with the agent but the broker's address.
    sub = await mqtt.connectAsync(ready.mqtt ?? "", { clientId: "e2e-observer" });
    sub.on("message", (topic, payload) => {
      if (topic.endsWith("/telemetry")) batches.push(telemetryBatchSchema.parse(JSON.parse(payload.toString())));
      if (topic.endsWith("/state")) states.push(payload.toString());
    });
    await sub.subscribeAsync(["edge/+/telemetry", "edge/+/state"], { qos: 1 });
  }, 60_000);

  afterAll(async () => {
    await sub?.endAsync(true);
    if (sim && sim.child.exitCode === null) await sim.stop("SIGKILL");
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("prints one ready line naming the broker, the API, the device and the topic", () => {
    expect(ready.mqtt).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.modbus).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.opcua).toMatch(/^opc\.tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.telemetry).toBe(`edge/${ready.device}/telemetry`);
    expect(sim.stdout).toContain("mosquitto_sub");
  });

  it("delivers telemetry batches whose values move to an independent subscriber", async () => {
    await waitFor("4 telemetry batches", () => (batches.length >= 4 ? true : undefined), 20_000);
    const valuesOf = (point: string) => batches.flatMap((b) => b.samples.filter((s) => s.point === point).map((s) => s.value));
    const counters = valuesOf("plc1.counter") as number[];
    const temps = valuesOf("plc1.temperature") as number[];
    expect(counters.length).toBeGreaterThanOrEqual(3);
    expect(new Set(counters).size).toBeGreaterThan(1);
    expect(counters.at(-1)).toBeGreaterThan(counters[0] ?? Infinity);
    expect(new Set(temps).size).toBeGreaterThan(1);
    for (const t of temps) expect(t).toBeGreaterThanOrEqual(19.9), expect(t).toBeLessThanOrEqual(80.1);
    // The uint64 energy meter starts above 2^53: it must arrive as an exact decimal string.
    // The OPC UA machine's subscription delivers too.
    await waitFor("OPC UA strokes", () => (new Set(valuesOf("line1.press1.strokes")).size >= 2 ? true : undefined), 20_000);
    const energy = valuesOf("plc1.energy");
    expect(typeof energy[0]).toBe("string");
    expect(BigInt(energy[0] as string)).toBeGreaterThan(2n ** 53n);
    // Every sample carries its outbox seq, strictly increasing within the run.
    const seqs = batches.flatMap((b) => b.samples.map((s) => s.seq));
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] ?? Infinity);
    expect(new Set(batches.map((b) => b.epoch)).size).toBe(1);
  });

  it("answers GET /health and GET /status with drivers, outbox and uplink", async () => {
    const health = await getJson<{ status: string }>(`${ready.api}/health`);
    expect(health).toEqual({ status: 200, body: { status: "ok" } });
    const { status, body } = await getJson<Status>(`${ready.api}/status`);
    expect(status).toBe(200);
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
    expect(body.version).toBe(pkg.version);
    expect(body.deviceId).toBe(ready.device);
    expect(body.uptimeS).toBeGreaterThan(0);
    expect(body.drivers).toHaveLength(2);
    expect(body.drivers[0]).toMatchObject({ id: "plc1", connected: true });
    expect(body.drivers[1]).toMatchObject({ id: "line1", protocol: "opcua", connected: true });
    expect(body.drivers[0]?.counters.requests).toBeGreaterThan(0);
    expect(body.outbox.sent).toBeGreaterThan(0);
    expect(body.outbox.lastSeq).toBeGreaterThanOrEqual(body.outbox.sent);
    expect(body.outbox.dropped.total).toBe(0);
    expect(body.uplink?.connected).toBe(true);
    expect(existsSync(join(dataDir, "sim", "edge.db"))).toBe(true);
  });

  it("keeps the plant and broker running when the agent is killed, and restarts the agent", async () => {
    const before = (await getJson<Status>(`${ready.api}/status`)).body;
    expect(states).toContain("online");
    const seenBefore = batches.length;
    process.kill(before.pid, "SIGKILL");
    // The broker is still ours to talk to, and the agent's last will marks the device offline.
    await waitFor("the retained state to go offline", () => (states.at(-1) === "offline" ? true : undefined), 15_000);
    expect(sub.connected).toBe(true);
    const after = await waitFor("a restarted agent", async () => {
      const s = (await getJson<Status>(`${ready.api}/status`)).body;
      return s.pid !== before.pid && s.uplink?.connected ? s : undefined;
    }, 20_000);
    expect(after.outbox.lastSeq).toBeGreaterThan(before.outbox.lastSeq - 1);
    await waitFor("telemetry after the restart", () => (batches.length > seenBefore + 1 ? true : undefined), 15_000);
    expect(states.at(-1)).toBe("online");
    // Seqs go on above everything sent before the kill: never reused.
    const lastBatch = batches.at(-1);
    expect(lastBatch?.samples[0]?.seq).toBeGreaterThan(before.outbox.lastSeq - 1);
  });

  it("stops everything on Ctrl-C (SIGINT) with exit code 0 and frees every port", async () => {
    const ports = [ready.mqtt, ready.api, ready.modbus, ready.opcua].map((u) => Number(new URL(u ?? "").port));
    const code = await sim.stop("SIGINT");
    expect(code).toBe(0);
    for (const port of ports) expect(await portOpen(port)).toBe(false);
    expect(sim.stdout).toContain("simulator mode stopped");
  });
});
