import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { SqliteOutbox } from "../../../edge/store/sqlite-outbox.js";
import { MqttUplink } from "../../../edge/uplink/mqtt-uplink.js";
import { telemetryBatchSchema, type TelemetryBatch } from "../../../edge/uplink/batch-schema.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../../simulators/broker/aedes-broker.js";
import { testLogger } from "../../helpers/logger.js";
import { waitFor } from "../../helpers/ports.js";

const T0 = 1_700_000_000_000;

/**
 * The uplink over stored rows whose sizes do not add up to batchMaxSamples: peek never goes past
 * maxRecords, so a "full" batch can hold fewer than batchMaxSamples records. An in-process broker
 * (aedes on a free loopback port) keeps this a unit test.
 */
describe("MqttUplink with multi-record rows", () => {
  let broker: EmbeddedBroker;
  let dir: string;
  let outbox: SqliteOutbox | undefined;
  let uplink: MqttUplink | undefined;
  let observer: mqtt.MqttClient;
  const received: TelemetryBatch[] = [];

  beforeEach(async () => {
    received.length = 0;
    broker = await startEmbeddedBroker({ port: 0 });
    dir = mkdtempSync(join(tmpdir(), "edge-uplink-rows-"));
    observer = await mqtt.connectAsync(broker.url, { clientId: "rows-observer" });
    observer.on("message", (_t, payload) => received.push(telemetryBatchSchema.parse(JSON.parse(payload.toString()))));
    await observer.subscribeAsync("edge/rows-gw/telemetry", { qos: 1 });
  });

  afterEach(async () => {
    await uplink?.stop(200);
    outbox?.close();
    await observer.endAsync(true);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const seqsReceived = () => received.flatMap((b) => b.samples.map((s) => s.seq));

  async function connected(opts: { maxRows: number; batchMaxDelayMs: number }) {
    const o = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: opts.maxRows, maxAgeMs: 0, synchronous: "normal" });
    outbox = o;
    const u = new MqttUplink({
      url: broker.url,
      clientId: "edge-agent-rows-gw",
      protocolVersion: 4,
      keepaliveS: 10,
      deviceId: "rows-gw",
      root: "edge/rows-gw",
      batchMaxSamples: 25,
      batchMaxDelayMs: opts.batchMaxDelayMs,
      inflightBatches: 4,
      outbox: o,
      logger: testLogger(),
      clock: Date.now,
    });
    uplink = u;
    u.start();
    await waitFor("uplink connected", () => (u.status().connected ? true : undefined), 5000);
    return { o, u };
  }

  /** Appends a row of 10 samples for round r. */
  const appendRound = (o: SqliteOutbox, r: number) =>
    o.append(
      "telemetry",
      Array.from({ length: 10 }, (_, i) => ({
        ts: T0 + r,
        json: JSON.stringify({ point: `p${i}`, ts: T0 + r, value: r * 10 + i, quality: "good" }),
      })),
    );

  it("kick() sends full batches of whole rows when rows of 10 do not add up to 25, without throwing", async () => {
    // a delay far beyond the test's waits: only full batches may go out, nothing by the delay
    const { o, u } = await connected({ maxRows: 1_000_000, batchMaxDelayMs: 60_000 });
    for (let r = 0; r < 10; r++) {
      appendRound(o, r);
      expect(() => u.kick()).not.toThrow();
    }
    // 100 records in rows of 10: batches of two rows (20) are as full as 25 allows
    await waitFor("80 samples at the observer", () => (seqsReceived().length >= 80 ? true : undefined), 5000);
    expect(seqsReceived().slice(0, 80)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    expect(received.every((b) => b.count === b.samples.length && b.count <= 25)).toBe(true);
  });

  it("kick() does not recurse when the record bound dropped rows ahead of the cursor (seq gap)", async () => {
    // maxRows 20: from the third row on, every append drops the oldest row before the uplink read it,
    // so lastSeq - cursor counts seqs that are no longer stored
    const { o, u } = await connected({ maxRows: 20, batchMaxDelayMs: 100 });
    for (let r = 0; r < 10; r++) {
      appendRound(o, r);
      expect(() => u.kick(), `kick after round ${r}`).not.toThrow();
    }
    // whatever survived the bound is delivered (by a full batch or by the delay), and nothing else
    await waitFor("the outbox drained", () => (o.stats().pending === 0 ? true : undefined), 5000);
    // The broker acknowledges the publisher before the observer has the message: wait for the last seq.
    await waitFor("the last seq at the observer", () => (seqsReceived().includes(100) ? true : undefined), 5000);
    const seqs = seqsReceived();
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs.slice(-20)).toEqual(Array.from({ length: 20 }, (_, i) => 81 + i));
    expect(o.stats().dropped.rows + o.stats().sent).toBe(100);
  });
});
