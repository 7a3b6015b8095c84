import Database from "better-sqlite3";
import mqtt from "mqtt";
import { join } from "node:path";
import { pino } from "pino";
import type { Sample } from "../../../edge/model.js";
import { Pipeline, type PipelinePoint } from "../../../edge/pipeline/pipeline.js";
import { SqliteOutbox } from "../../../edge/store/sqlite-outbox.js";
import { StoreWriter } from "../../../edge/store/store-writer.js";
import { MqttUplink } from "../../../edge/uplink/mqtt-uplink.js";
import { encodeTelemetryBatch } from "../../../edge/uplink/batch.js";
import type { BenchContext, BenchResult, Scenario } from "../scenario.js";
import { fmt, waitUntil } from "../util.js";
import { Counter, expectAll, feed, makeBatches } from "./pipeline.js";

/**
 * Store-and-forward, the two figures issue 5 asks for:
 *  - store: samples/s through the agent's store path (Pipeline -> StoreWriter -> SqliteOutbox, with the
 *    local history written in the same transaction) against a raw better-sqlite3 batched-insert loop;
 *  - drain: after an outage, the backlog's samples/s to the broker with QoS 1 until every row is
 *    acknowledged and deleted, against a raw mqtt.js loop publishing the same payload bytes.
 */

const POINTS = 250;
const BATCH = 500; // mqtt.batch.maxSamples default
const INFLIGHT = 8; // mqtt.batch.inflight default
const STORE_SAMPLES = 300_000;
const DRAIN_SAMPLES = 1_000_000;

function points(): PipelinePoint[] {
  return Array.from({ length: POINTS }, (_, i) => ({ id: `bench.p${String(i).padStart(3, "0")}`, scale: 1, offset: 0, deadband: 0 }));
}

async function storeAgent(ctx: BenchContext, batches: Sample[][], n: number): Promise<number> {
  const dir = await ctx.tmpDir("store-agent-");
  const logger = pino({ level: "warn" });
  const outbox = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: n * 2, maxAgeMs: 0, synchronous: "normal", maxBytes: 1024 ** 3 });
  const writer = new StoreWriter({ outbox, logger, clock: Date.now, maxBuffered: 100_000, retryMs: 2000 });
  // commitDelayMs 0: one transaction per driver batch, the same as the baseline (the agent's default
  // 20 ms window would only make its side faster by committing several batches together).
  const pipeline = new Pipeline({ points: points(), outbox: writer, logger, commitDelayMs: 0 });
  try {
    const start = performance.now();
    await feed(batches, (b) => pipeline.process(b));
    const seconds = (performance.now() - start) / 1000;
    const stats = outbox.stats();
    if (stats.lastSeq !== n || pipeline.counters.stored !== n) throw new Error(`store (agent): stored ${stats.lastSeq} of ${n} samples`);
    if (stats.history.rows === 0) throw new Error("store (agent): the history was not written");
    return n / seconds;
  } finally {
    writer.stop();
    outbox.close();
  }
}

/** The least code that stores samples durably: one row per sample, one transaction per driver batch. */
async function storeBaseline(ctx: BenchContext, batches: Sample[][], n: number): Promise<number> {
  const dir = await ctx.tmpDir("store-baseline-");
  const db = new Database(join(dir, "baseline.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE samples (seq INTEGER PRIMARY KEY AUTOINCREMENT, point TEXT NOT NULL, ts INTEGER NOT NULL, value REAL, quality TEXT NOT NULL)");
  const insert = db.prepare<[string, number, number | null, string]>("INSERT INTO samples (point, ts, value, quality) VALUES (?, ?, ?, ?)");
  const insertBatch = db.transaction((batch: Sample[]) => {
    for (const s of batch) insert.run(s.point, s.ts, typeof s.value === "number" ? s.value : null, s.quality);
  });
  try {
    const start = performance.now();
    await feed(batches, (b) => insertBatch(b));
    const seconds = (performance.now() - start) / 1000;
    const count = (db.prepare("SELECT count(*) AS c FROM samples").get() as { c: number }).c;
    if (count !== n) throw new Error(`store (baseline): stored ${count} of ${n}`);
    return n / seconds;
  } finally {
    db.close();
  }
}

/** Fills an outbox with n samples (rows of BATCH), as an outage would leave it. */
function backlog(path: string, n: number): SqliteOutbox {
  const outbox = new SqliteOutbox({ path, maxRows: n * 2, maxAgeMs: 0, synchronous: "normal", history: { enabled: false, maxAgeMs: 0, maxBytes: 0 } });
  for (let i = 0; i < n; i += BATCH) {
    outbox.append(
      "telemetry",
      Array.from({ length: Math.min(BATCH, n - i) }, (_, j) => ({
        ts: 1_700_000_000_000 + i + j,
        json: `{"point":"bench.p${String((i + j) % POINTS).padStart(3, "0")}","ts":${1_700_000_000_000 + i + j},"value":${((i + j) % 1000) / 10},"quality":"good"}`,
      })),
    );
  }
  return outbox;
}

async function drainAgent(ctx: BenchContext, n: number, tag: string): Promise<{ perSecond: number; payloads: string[] }> {
  const dir = await ctx.tmpDir("drain-agent-");
  const broker = await ctx.broker();
  const outbox = backlog(join(dir, "edge.db"), n);
  // The exact messages the agent will send, for the baseline to publish byte for byte.
  const payloads: string[] = [];
  for (let after = 0; ; ) {
    const rows = outbox.peek(after, BATCH);
    if (rows.length === 0) break;
    payloads.push(encodeTelemetryBatch(`bench-drain-${tag}`, outbox.epoch, rows));
    const last = rows[rows.length - 1];
    after = last ? last.firstSeq + last.count - 1 : after;
  }
  const deviceId = `bench-drain-${tag}`;
  const uplink = new MqttUplink({
    url: broker.url,
    clientId: deviceId,
    protocolVersion: 4,
    keepaliveS: 30,
    deviceId,
    root: `bench/${deviceId}`,
    batchMaxSamples: BATCH,
    batchMaxDelayMs: 50,
    inflightBatches: INFLIGHT,
    outbox,
    logger: pino({ level: "warn" }),
    clock: Date.now,
  });
  const counter = await Counter.start(broker.url, uplink.topics.telemetry, `${deviceId}-counter`);
  try {
    const start = performance.now();
    uplink.start();
    await waitUntil(() => outbox.stats().pending === 0, 300_000, "the backlog to drain", 2);
    const seconds = (performance.now() - start) / 1000;
    await expectAll(counter, n, "drain agent");
    return { perSecond: n / seconds, payloads };
  } finally {
    await counter.stop();
    await uplink.stop(500);
    outbox.close();
  }
}

/** The same payload bytes, published by a bare mqtt.js client with QoS 1 and the same in-flight window. */
async function drainBaseline(ctx: BenchContext, payloads: string[], n: number, tag: string): Promise<number> {
  const broker = await ctx.broker();
  const topic = `bench/bench-drain-base-${tag}/telemetry`;
  const counter = await Counter.start(broker.url, topic, `drain-base-${tag}-counter`);
  const start = performance.now();
  const client = await mqtt.connectAsync(broker.url, { clientId: `drain-base-${tag}`, protocolVersion: 4, clean: true });
  try {
    let next = 0;
    let acked = 0;
    let inflight = 0;
    let failure: Error | null = null;
    const pump = () => {
      while (inflight < INFLIGHT && next < payloads.length) {
        inflight++;
        client.publish(topic, payloads[next++] as string, { qos: 1 }, (err) => {
          inflight--;
          if (err) failure = err;
          acked++;
          pump();
        });
      }
    };
    pump();
    await waitUntil(() => acked === payloads.length || failure !== null, 300_000, "the baseline's publishes to be acknowledged", 2);
    if (failure) throw failure;
    const seconds = (performance.now() - start) / 1000;
    await expectAll(counter, n, "drain baseline");
    return n / seconds;
  } finally {
    await counter.stop();
    await client.endAsync(true).catch(() => undefined);
  }
}

export const storeScenario: Scenario = {
  name: "store",
  description:
    "Store path samples/s (Pipeline -> StoreWriter -> SqliteOutbox + history, one transaction per driver batch) vs a raw better-sqlite3 " +
    "batched insert; backlog drain samples/s to the broker with QoS 1 until every row is acknowledged vs a raw mqtt.js loop of the same payloads.",
  async run(ctx): Promise<BenchResult[]> {
    const rounds = Math.max(1, Number(process.env.EDGE_BENCH_ROUNDS ?? 3) || 3);
    const storeN = Math.max(1000, Math.round(STORE_SAMPLES * ctx.scale));
    const drainN = Math.max(BATCH, Math.round((DRAIN_SAMPLES * ctx.scale) / BATCH) * BATCH);
    const batches = makeBatches(storeN);
    const store = { agent: [] as number[], baseline: [] as number[] };
    const drain = { agent: [] as number[], baseline: [] as number[] };
    ctx.log(`store: ${fmt(storeN)} samples in driver batches of 100; drain: a backlog of ${fmt(drainN)} samples; ${rounds} rounds`);
    for (let r = 1; r <= rounds; r++) {
      const agentFirst = r % 2 === 0;
      for (const side of agentFirst ? ["agent", "baseline"] : ["baseline", "agent"]) {
        const v = side === "agent" ? await storeAgent(ctx, batches, storeN) : await storeBaseline(ctx, batches, storeN);
        (side === "agent" ? store.agent : store.baseline).push(v);
        ctx.log(`round ${r}/${rounds} store ${side.padEnd(8)} ${fmt(v)} samples/s`);
      }
      const a = await drainAgent(ctx, drainN, String(r));
      drain.agent.push(a.perSecond);
      ctx.log(`round ${r}/${rounds} drain agent    ${fmt(a.perSecond)} samples/s (${a.payloads.length} messages, all seen by the subscriber)`);
      const b = await drainBaseline(ctx, a.payloads, drainN, String(r));
      drain.baseline.push(b);
      ctx.log(`round ${r}/${rounds} drain baseline ${fmt(b)} samples/s`);
    }
    const best = (xs: number[]) => Math.max(...xs);
    const broker = await ctx.broker();
    return [
      {
        metric: "store",
        unit: "samples/s",
        agent: best(store.agent),
        baseline: best(store.baseline),
        higherIsBetter: true,
        baselineLabel: "raw better-sqlite3: one row per sample, one transaction per batch of 100, WAL, synchronous NORMAL",
        target: { on: "ratio", min: 0.5, source: "issue 5" },
        details: { samples: storeN, history: true, synchronous: "normal", figure: `best of ${rounds}`, agentRounds: store.agent.map(Math.round), baselineRounds: store.baseline.map(Math.round) },
      },
      {
        metric: "drain",
        unit: "samples/s",
        agent: best(drain.agent),
        baseline: best(drain.baseline),
        higherIsBetter: true,
        baselineLabel: "raw mqtt.js publishing the same payloads, QoS 1, same in-flight window",
        target: { on: "agent", min: 200_000, source: "issue 5" },
        details: { samples: drainN, batch: BATCH, inflight: INFLIGHT, broker: broker.kind, figure: `best of ${rounds}`, agentRounds: drain.agent.map(Math.round), baselineRounds: drain.baseline.map(Math.round) },
      },
    ];
  },
};

export default storeScenario;
