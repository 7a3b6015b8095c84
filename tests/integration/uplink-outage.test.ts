import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import mqtt from "mqtt";
import { SqliteOutbox } from "../../edge/store/sqlite-outbox.js";
import { MqttUplink } from "../../edge/uplink/mqtt-uplink.js";
import { telemetryBatchSchema } from "../../edge/uplink/batch-schema.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/ports.js";
import { uplinkOptions } from "../helpers/uplink.js";

/**
 * A broker outage under a steady load: the producer keeps storing while the broker is down and after
 * it returns. The independent observer must end with every seq (no gaps), the backlog in order, and
 * live data arriving while the backlog is still draining (not starved behind it).
 */
describe("broker outage under load", () => {
  let broker: TestBroker;
  let dir: string;
  let outbox: SqliteOutbox;
  let uplink: MqttUplink;
  let observer: mqtt.MqttClient;
  let producer: NodeJS.Timeout | null = null;
  /** Every sample as the observer received it, with its arrival order. */
  const arrivals: number[] = [];

  beforeEach(async () => {
    arrivals.length = 0;
    broker = await startTestBroker();
    dir = mkdtempSync(join(tmpdir(), "edge-outage-"));
    outbox = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 10_000_000, maxAgeMs: 0, synchronous: "normal" });
    observer = await mqtt.connectAsync(broker.url, { clientId: "outage-observer", reconnectPeriod: 100 });
  });

  afterEach(async () => {
    if (producer) clearInterval(producer);
    await uplink.stop(200);
    outbox.close();
    await observer.endAsync(true);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function startUplink(extra: Partial<ConstructorParameters<typeof MqttUplink>[0]> = {}) {
    uplink = new MqttUplink(uplinkOptions(broker.url, "outage-gw", outbox, { batchMaxSamples: 500, inflightBatches: 4, ...extra }));
    uplink.start();
  }

  /** Stores `perTick` samples every 10 ms, as a driver would, and tells the uplink. */
  function produce(perTick: number): void {
    let n = 0;
    producer = setInterval(() => {
      const now = Date.now();
      outbox.append(
        "telemetry",
        Array.from({ length: perTick }, (_, i) => ({ ts: now, json: `{"point":"p${i}","ts":${now},"value":${n++},"quality":"good"}` })),
      );
      uplink.kick();
    }, 10);
  }

  it("loses nothing, keeps the backlog in order and interleaves live data during the drain", async () => {
    observer.on("message", (_t, payload) => {
      for (const s of telemetryBatchSchema.parse(JSON.parse(payload.toString())).samples) arrivals.push(s.seq);
    });
    await observer.subscribeAsync("edge/outage-gw/telemetry", { qos: 1 });
    // A backlog cap makes the drain last a while, so live data demonstrably flows beside it.
    startUplink({ backlogMaxPerS: 20_000 });
    await waitFor("uplink connected", () => (uplink.status().connected ? true : undefined));
    produce(50); // ~5,000 samples/s
    await waitFor("first deliveries", () => (arrivals.length > 500 ? true : undefined));

    await broker.stop();
    const outageFrom = outbox.stats().lastSeq;
    await waitFor("uplink sees the outage", () => (!uplink.status().connected ? true : undefined));
    await waitFor("a backlog of 10,000 samples", () => (outbox.stats().lastSeq - outageFrom > 10_000 ? true : undefined), 20_000);
    await broker.start();
    await waitFor("observer back", () => (observer.connected ? true : undefined), 10_000);
    await observer.subscribeAsync("edge/outage-gw/telemetry", { qos: 1 });
    await waitFor("uplink back", () => (uplink.status().connected ? true : undefined), 10_000);
    await waitFor("backlog being drained", () => (uplink.status().drain.backlog ? true : undefined), 5000);
    const drainSeen = uplink.status().drain;
    const liveFrom = drainSeen.liveFromSeq; // stored after the reconnect: live
    await waitFor("backlog drained", () => (!uplink.status().drain.backlog ? true : undefined), 30_000);
    if (producer) clearInterval(producer);
    producer = null;
    const last = outbox.stats().lastSeq;
    await waitFor("every seq at the observer", () => (new Set(arrivals).size >= last ? true : undefined), 20_000);

    // Zero gaps: every committed seq arrived (duplicates allowed, counted).
    const unique = new Set(arrivals);
    expect(unique.size).toBe(last);
    expect(Math.min(...unique)).toBe(1);
    expect(Math.max(...unique)).toBe(last);
    // Order kept within the backlog: first arrivals of backlog seqs are increasing.
    const firstArrivals = arrivals.filter((s, i) => arrivals.indexOf(s) === i);
    const backlog = firstArrivals.filter((s) => s > outageFrom && s < liveFrom);
    expect(backlog.length).toBeGreaterThan(10_000);
    expect(backlog).toEqual([...backlog].sort((a, b) => a - b));
    // Live data not starved: live samples arrived before the last backlog sample did.
    const lastBacklogAt = firstArrivals.indexOf(backlog[backlog.length - 1] as number);
    const liveBeforeEnd = firstArrivals.slice(0, lastBacklogAt).filter((s) => s >= liveFrom);
    expect(liveBeforeEnd.length).toBeGreaterThan(0);
    // Progress was visible while draining.
    expect(drainSeen.pending).toBeGreaterThan(0);
    expect(drainSeen.backlog).toBe(true);
  }, 90_000);

  it("compresses batches with gzip when asked, and a consumer can read them", async () => {
    const batches: Array<{ seqs: unknown; count: number }> = [];
    observer.on("message", (_t, payload) => {
      expect(payload.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      const batch = telemetryBatchSchema.parse(JSON.parse(gunzipSync(payload).toString()));
      batches.push(batch);
      for (const s of batch.samples) arrivals.push(s.seq);
    });
    await observer.subscribeAsync("edge/outage-gw/telemetry", { qos: 1 });
    startUplink({ compress: true });
    await waitFor("uplink connected", () => (uplink.status().connected ? true : undefined));
    outbox.append("telemetry", Array.from({ length: 1200 }, (_, i) => ({ ts: 1, json: `{"point":"p","ts":1,"value":${i},"quality":"good"}` })));
    uplink.kick();
    await waitFor("1200 samples", () => (arrivals.length >= 1200 ? true : undefined));
    expect(arrivals).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    expect(batches.length).toBeGreaterThanOrEqual(3);
  });
});
