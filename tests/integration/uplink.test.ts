import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { SqliteOutbox } from "../../edge/store/sqlite-outbox.js";
import { Pipeline } from "../../edge/pipeline/pipeline.js";
import { MqttUplink } from "../../edge/uplink/mqtt-uplink.js";
import { telemetryBatchSchema, type TelemetryBatch } from "../../edge/uplink/batch-schema.js";
import type { Sample } from "../../edge/model.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";

const POINTS = Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, scale: 1, offset: 0, deadband: 0 }));

function samples(round: number): Sample[] {
  return POINTS.map((p, i) => ({ point: p.id, ts: 1_700_000_000_000 + round * 1000, value: round * 100 + i, quality: "good" }));
}

describe("store and forward to a real broker", () => {
  let broker: TestBroker;
  let dir: string;
  let outbox: SqliteOutbox;
  let uplink: MqttUplink;
  let pipeline: Pipeline;
  let observer: mqtt.MqttClient;
  const received: TelemetryBatch[] = [];

  beforeEach(async () => {
    received.length = 0;
    broker = await startTestBroker();
    dir = mkdtempSync(join(tmpdir(), "edge-uplink-"));
    outbox = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 1_000_000, maxAgeMs: 0, synchronous: "normal" });
    uplink = new MqttUplink({
      url: broker.url,
      clientId: "edge-agent-test-gw",
      protocolVersion: 4,
      keepaliveS: 10,
      deviceId: "test-gw",
      root: "edge/test-gw",
      batchMaxSamples: 25,
      batchMaxDelayMs: 50,
      inflightBatches: 4,
      outbox,
      logger: testLogger(),
      clock: Date.now,
    });
    pipeline = new Pipeline({ points: POINTS, outbox, logger: testLogger(), onStored: () => uplink.kick() });
    observer = await mqtt.connectAsync(broker.url, { clientId: "independent-observer", reconnectPeriod: 200 });
    observer.on("message", (_t, payload) => received.push(telemetryBatchSchema.parse(JSON.parse(payload.toString()))));
    await observer.subscribeAsync("edge/test-gw/telemetry", { qos: 1 });
  });

  afterEach(async () => {
    await uplink.stop(200);
    outbox.close();
    await observer.endAsync(true);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const seqsReceived = () => received.flatMap((b) => b.samples.map((s) => s.seq));

  it("publishes stored samples in batches with their seqs, and deletes rows only once acknowledged", async () => {
    uplink.start();
    await waitFor("uplink connected", () => (uplink.status().connected ? true : undefined));
    for (let r = 0; r < 10; r++) pipeline.process(samples(r));
    await waitFor("100 samples at the observer", () => (seqsReceived().length >= 100 ? true : undefined));
    expect(seqsReceived()).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(received.every((b) => b.count === b.samples.length && b.count <= 25)).toBe(true);
    expect(received[0]?.seqs).toEqual({ first: 1, last: received[0]?.count });
    expect(received[0]?.samples[0]).toMatchObject({ point: "p0", value: 0, quality: "good" });
    await waitFor("outbox drained", () => (outbox.stats().pending === 0 ? true : undefined));
    expect(outbox.stats().sent).toBe(100);
    expect(outbox.peek(0, 10)).toEqual([]);
  });

  it("keeps every sample through a broker outage and delivers them in order, without gaps, when it returns", async () => {
    uplink.start();
    await waitFor("uplink connected", () => (uplink.status().connected ? true : undefined));
    pipeline.process(samples(0));
    await waitFor("first delivery", () => (seqsReceived().length >= 10 ? true : undefined));

    await broker.stop();
    await waitFor("uplink sees the outage", () => (!uplink.status().connected ? true : undefined));
    for (let r = 1; r <= 30; r++) pipeline.process(samples(r));
    // Nothing can be acknowledged while the broker is down: everything stays stored.
    expect(outbox.stats().pending).toBe(300);

    await broker.start();
    await waitFor("observer back", () => (observer.connected ? true : undefined), 10_000);
    await observer.subscribeAsync("edge/test-gw/telemetry", { qos: 1 });
    await waitFor("backlog drained", () => (outbox.stats().pending === 0 ? true : undefined), 15_000);
    await waitFor("all 310 seqs at the observer", () => (new Set(seqsReceived()).size >= 310 ? true : undefined), 10_000);
    const unique = [...new Set(seqsReceived())].sort((a, b) => a - b);
    expect(unique).toEqual(Array.from({ length: 310 }, (_, i) => i + 1));
    // In order: the backlog arrives oldest first (duplicates, if any, only repeat earlier seqs).
    const firstSeen = seqsReceived().filter((s, i, all) => all.indexOf(s) === i);
    expect(firstSeen).toEqual(unique);
  });

  it("marks the device online (retained) when connected and offline on a clean stop", async () => {
    uplink.start();
    await waitFor("uplink connected", () => (uplink.status().connected ? true : undefined));
    const retained = async () => {
      const c = await mqtt.connectAsync(broker.url, { clientId: `state-reader-${Date.now()}` });
      const got = new Promise<string>((resolve) => c.on("message", (_t, p) => resolve(p.toString())));
      await c.subscribeAsync("edge/test-gw/state", { qos: 1 });
      const value = await Promise.race([got, new Promise<string>((r) => setTimeout(() => r("(none)"), 3000))]);
      await c.endAsync(true);
      return value;
    };
    expect(await retained()).toBe("online");
    await uplink.stop();
    expect(await retained()).toBe("offline");
  });

  it("never reuses a seq: after the outbox drains and after the database is reopened", async () => {
    uplink.start();
    await waitFor("uplink connected", () => (uplink.status().connected ? true : undefined));
    pipeline.process(samples(0));
    await waitFor("drained", () => (outbox.stats().pending === 0 && seqsReceived().length === 10 ? true : undefined));
    await uplink.stop(200);
    const epoch = outbox.epoch;
    outbox.close();
    outbox = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 1_000_000, maxAgeMs: 0, synchronous: "normal" });
    expect(outbox.epoch).toBe(epoch);
    expect(outbox.append("telemetry", [{ ts: 1, json: '{"point":"p0","ts":1,"value":1,"quality":"good"}' }])).toEqual({ first: 11, last: 11 });
  });
});
