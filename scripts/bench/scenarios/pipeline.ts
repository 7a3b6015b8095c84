import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { join } from "node:path";
import { pino } from "pino";
import type { Sample } from "../../../edge/model.js";
import { Pipeline, type PipelinePoint } from "../../../edge/pipeline/pipeline.js";
import { SqliteOutbox } from "../../../edge/store/sqlite-outbox.js";
import { MqttUplink } from "../../../edge/uplink/mqtt-uplink.js";
import type { BenchBroker } from "../broker.js";
import type { BenchContext, BenchResult, Scenario } from "../scenario.js";
import { fmt, waitUntil, yieldToLoop } from "../util.js";

/**
 * End-to-end throughput of the agent's data path: Pipeline -> SqliteOutbox -> MqttUplink -> broker,
 * against a hand-written loop doing the same work with raw better-sqlite3 + mqtt.js.
 */

const FEED_BATCH = 100; // samples per pipeline.process() call, like one driver poll
const POINTS = 250; // distinct points, cycling
const UPLINK_BATCH = 500; // batch.maxSamples (the config default)
const INFLIGHT = 8; // batch.inflight (the config default)
/**
 * batch.maxDelayMs. The config default (1000) would add up to a second of pure waiting at the end of the
 * run (the last partial batch waits for its timer), which measures the finite workload, not the agent.
 */
const MAX_DELAY_MS = 50;
const PROTOCOL = 4 as const; // mqtt.protocolVersion (the config default)
const DEFAULT_SAMPLES = 200_000;

interface RunFigures {
  samples: number;
  seconds: number;
  perSecond: number;
  messages: number;
  duplicates: number;
}

/** The driver side: N samples in batches of FEED_BATCH, built once and fed to both sides. */
export function makeBatches(n: number): Sample[][] {
  const t0 = Date.UTC(2024, 0, 1);
  const batches: Sample[][] = [];
  for (let i = 0; i < n; i += FEED_BATCH) {
    const batch: Sample[] = [];
    for (let j = i; j < Math.min(n, i + FEED_BATCH); j++) {
      batch.push({
        point: `bench.p${String(j % POINTS).padStart(3, "0")}`,
        ts: t0 + j,
        value: Math.round(Math.sin(j / 17) * 10_000) / 100,
        quality: "good",
      });
    }
    batches.push(batch);
  }
  return batches;
}

/**
 * An independent subscriber that counts the samples that arrived. It reads only the head of each
 * payload ("seqs" and "count" come before "samples") so that counting costs the measured process
 * almost nothing.
 */
export class Counter {
  total = 0;
  messages = 0;
  duplicates = 0;
  private readonly ranges = new Set<number>();
  private constructor(private readonly client: MqttClient) {}

  static async start(url: string, topic: string, clientId: string): Promise<Counter> {
    const client = await mqtt.connectAsync(url, { clientId, protocolVersion: PROTOCOL, clean: true, reconnectPeriod: 0 });
    const counter = new Counter(client);
    client.on("message", (t, payload) => {
      if (t !== topic) return;
      const head = payload.subarray(0, 300).toString("latin1");
      const count = /"count":(\d+)/.exec(head);
      const first = /"seqs":\{"first":(\d+)/.exec(head) ?? /"seqs":\[(\d+)/.exec(head);
      if (!count) throw new Error(`pipeline: a telemetry message without a count field: ${head.slice(0, 120)}`);
      counter.messages++;
      const n = Number(count[1]);
      const key = Number(first?.[1] ?? -counter.messages);
      if (counter.ranges.has(key)) counter.duplicates += n;
      else {
        counter.ranges.add(key);
        counter.total += n;
      }
    });
    await client.subscribeAsync(topic, { qos: 1 });
    return counter;
  }

  async stop(): Promise<void> {
    await this.client.endAsync(true).catch(() => undefined);
  }
}

export async function expectAll(counter: Counter, n: number, side: string): Promise<void> {
  try {
    await waitUntil(() => counter.total >= n, 15_000, `the subscriber to see ${n} samples`, 5);
  } catch {
    throw new Error(
      `pipeline (${side}): the independent subscriber saw ${counter.total} of ${n} samples ` +
        `(${counter.messages} messages): SAMPLES WERE LOST`,
    );
  }
}

export async function feed(batches: readonly Sample[][], process: (batch: Sample[]) => void): Promise<void> {
  for (const batch of batches) {
    process(batch);
    // Like drivers, the feed returns to the event loop between batches, so acks interleave with writes.
    await yieldToLoop();
  }
}

async function runAgent(ctx: BenchContext, broker: BenchBroker, batches: Sample[][], n: number, tag: string): Promise<RunFigures> {
  const dir = await ctx.tmpDir("pipeline-agent-");
  const logger = pino({ level: "warn" });
  const deviceId = `bench-agent-${tag}`;
  const root = `bench/${deviceId}`;
  const points: PipelinePoint[] = Array.from({ length: POINTS }, (_, i) => ({
    id: `bench.p${String(i).padStart(3, "0")}`,
    scale: 1,
    offset: 0,
    deadband: 0,
  }));
  const outbox = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: n * 2, maxAgeMs: 0, synchronous: "normal" });
  const uplink = new MqttUplink({
    url: broker.url,
    clientId: `${deviceId}-uplink`,
    protocolVersion: PROTOCOL,
    keepaliveS: 30,
    deviceId,
    root,
    batchMaxSamples: UPLINK_BATCH,
    batchMaxDelayMs: MAX_DELAY_MS,
    inflightBatches: INFLIGHT,
    outbox,
    logger,
    clock: Date.now,
  });
  const pipeline = new Pipeline({ points, outbox, logger, onStored: () => uplink.kick() });
  const counter = await Counter.start(broker.url, uplink.topics.telemetry, `${deviceId}-counter`);
  try {
    uplink.start();
    await waitUntil(() => uplink.status().connected, 10_000, "the uplink to connect", 5);

    const start = performance.now();
    await feed(batches, (b) => pipeline.process(b));
    await waitUntil(() => outbox.stats().pending === 0, 120_000, "the agent's outbox to drain");
    const seconds = (performance.now() - start) / 1000;

    const { counters } = pipeline;
    if (counters.stored !== n) throw new Error(`pipeline (agent): stored ${counters.stored} of ${n} samples (${JSON.stringify(counters)})`);
    const stats = outbox.stats();
    if (stats.sent !== n) throw new Error(`pipeline (agent): the outbox acknowledged ${stats.sent} of ${n} samples`);
    await expectAll(counter, n, "agent");
    return { samples: n, seconds, perSecond: n / seconds, messages: counter.messages, duplicates: counter.duplicates };
  } finally {
    await counter.stop();
    await uplink.stop(500);
    outbox.close();
  }
}

/**
 * The baseline: the least code that does the same work. Same rows (JSON bodies), inserts in
 * transactions of FEED_BATCH, reads back UPLINK_BATCH rows at a time by cursor, publishes the same
 * payload with QoS 1 and deletes the rows in the PUBACK callback, with INFLIGHT batches in flight.
 * No pipeline, no bounds, no secondary index, no status bookkeeping.
 */
async function runBaseline(ctx: BenchContext, broker: BenchBroker, batches: Sample[][], n: number, tag: string): Promise<RunFigures> {
  const dir = await ctx.tmpDir("pipeline-baseline-");
  const deviceId = `bench-baseline-${tag}`;
  const topic = `bench/${deviceId}/telemetry`;
  const db = new Database(join(dir, "baseline.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL)");
  const insert = db.prepare<[string, number, string]>("INSERT INTO outbox (kind, ts, body) VALUES (?, ?, ?)");
  const select = db.prepare<[number, number], { seq: number; body: string }>("SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
  const del = db.prepare<[number]>("DELETE FROM outbox WHERE seq = ?");
  let lastSeq = 0;
  let pending = 0;
  const insertBatch = db.transaction((batch: Sample[]) => {
    for (const s of batch) lastSeq = Number(insert.run("telemetry", s.ts, JSON.stringify(s)).lastInsertRowid);
    pending += batch.length;
  });
  const deleteSeqs = db.transaction((seqs: number[]) => {
    for (const seq of seqs) del.run(seq);
  });

  const counter = await Counter.start(broker.url, topic, `${deviceId}-counter`);
  const client = await mqtt.connectAsync(broker.url, { clientId: deviceId, protocolVersion: PROTOCOL, keepalive: 30, clean: true });
  let cursor = 0;
  let inflight = 0;
  let fed = false;
  let failure: Error | null = null;
  const pump = () => {
    while (inflight < INFLIGHT) {
      if (!fed && lastSeq - cursor < UPLINK_BATCH) return;
      const rows = select.all(cursor, UPLINK_BATCH);
      if (rows.length === 0) return;
      const first = rows[0]?.seq ?? 0;
      const last = rows[rows.length - 1]?.seq ?? 0;
      cursor = last;
      const payload =
        `{"v":1,"device":"${deviceId}","epoch":"baseline","seqs":{"first":${first},"last":${last}},"count":${rows.length},` +
        `"samples":[${rows.map((r) => `{"seq":${r.seq},${r.body.slice(1)}`).join(",")}]}`;
      inflight++;
      client.publish(topic, payload, { qos: 1 }, (err) => {
        inflight--;
        if (err) {
          failure = err;
          return;
        }
        deleteSeqs(rows.map((r) => r.seq));
        pending -= rows.length;
        pump();
      });
    }
  };
  try {
    const start = performance.now();
    await feed(batches, (b) => {
      insertBatch(b);
      pump();
    });
    fed = true;
    pump();
    await waitUntil(() => pending === 0 || failure !== null, 120_000, "the baseline's outbox to drain");
    const seconds = (performance.now() - start) / 1000;
    if (failure) throw failure;
    await expectAll(counter, n, "baseline");
    return { samples: n, seconds, perSecond: n / seconds, messages: counter.messages, duplicates: counter.duplicates };
  } finally {
    await counter.stop();
    await client.endAsync(true).catch(() => undefined);
    db.close();
  }
}

export const pipelineScenario: Scenario = {
  name: "pipeline",
  description:
    "End-to-end samples/s: Pipeline -> SqliteOutbox (synchronous normal) -> MqttUplink -> broker, until every sample is acknowledged, " +
    "vs raw better-sqlite3 + mqtt.js doing the same inserts, reads, QoS 1 publishes and deletes.",
  async run(ctx): Promise<BenchResult[]> {
    const n = Math.max(UPLINK_BATCH, Math.round((DEFAULT_SAMPLES * ctx.scale) / UPLINK_BATCH) * UPLINK_BATCH);
    const rounds = Math.max(1, Number(process.env.EDGE_BENCH_ROUNDS ?? 3) || 3);
    const broker = await ctx.broker();
    const batches = makeBatches(n);
    ctx.log(`${fmt(n)} samples, ${FEED_BATCH} per process() call, ${POINTS} points, batches of ${UPLINK_BATCH}, ${INFLIGHT} in flight, ${rounds} rounds`);

    const agent: RunFigures[] = [];
    const baseline: RunFigures[] = [];
    for (let r = 1; r <= rounds; r++) {
      // Alternate who goes first, so neither side always gets the cold JIT or the warm page cache.
      const order = r % 2 === 1 ? (["baseline", "agent"] as const) : (["agent", "baseline"] as const);
      for (const side of order) {
        const figures =
          side === "agent"
            ? await runAgent(ctx, broker, batches, n, String(r))
            : await runBaseline(ctx, broker, batches, n, String(r));
        (side === "agent" ? agent : baseline).push(figures);
        ctx.log(
          `round ${r}/${rounds} ${side.padEnd(8)} ${fmt(n)} samples in ${figures.seconds.toFixed(2)} s = ${fmt(figures.perSecond)} samples/s` +
            ` (${figures.messages} messages, all ${fmt(n)} samples seen by the subscriber)`,
        );
      }
    }
    const best = (runs: RunFigures[]) => Math.max(...runs.map((f) => f.perSecond));
    return [
      {
        metric: "throughput",
        unit: "samples/s",
        agent: best(agent),
        baseline: best(baseline),
        higherIsBetter: true,
        baselineLabel: "raw better-sqlite3 + mqtt.js loop, same rows, batches and in-flight window",
        details: {
          samples: n,
          feedBatch: FEED_BATCH,
          points: POINTS,
          uplinkBatch: UPLINK_BATCH,
          inflight: INFLIGHT,
          synchronous: "normal",
          maxDelayMs: MAX_DELAY_MS,
          figure: `best of ${rounds} rounds`,
          broker: broker.kind,
          agentRounds: agent.map((f) => ({ seconds: round3(f.seconds), perSecond: Math.round(f.perSecond), duplicates: f.duplicates })),
          baselineRounds: baseline.map((f) => ({ seconds: round3(f.seconds), perSecond: Math.round(f.perSecond), duplicates: f.duplicates })),
        },
      },
    ];
  },
};

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export default pipelineScenario;
