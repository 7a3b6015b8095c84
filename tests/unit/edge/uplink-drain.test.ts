import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteOutbox } from "../../../edge/store/sqlite-outbox.js";
import { DrainPlanner, type PlannedBatch } from "../../../edge/uplink/drain.js";

const T0 = 1_700_000_000_000;
let dir: string;
let outbox: SqliteOutbox;
let now: number;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edge-drain-"));
  outbox = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 1_000_000, maxAgeMs: 0, synchronous: "normal", rowMax: 10 });
  now = T0;
});
afterEach(() => {
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
});

const telemetry = (n: number) => outbox.append("telemetry", Array.from({ length: n }, (_, i) => ({ ts: now + i, json: `{"i":${i}}` })));

function planner(opts: { inflight?: number; perS?: number; batch?: number } = {}) {
  return new DrainPlanner({
    outbox,
    batchMaxSamples: opts.batch ?? 10,
    batchMaxDelayMs: 1000,
    inflightBatches: opts.inflight ?? 4,
    backlogMaxPerS: opts.perS ?? 0,
    clock: () => now,
    canSend: () => false,
    publish: () => undefined,
  });
}

/** Takes batches until the planner has none, marking each sent; returns them. */
function takeAll(p: DrainPlanner, flush = true): PlannedBatch[] {
  const out: PlannedBatch[] = [];
  for (;;) {
    const { batch } = p.next(flush);
    if (!batch) return out;
    p.sent(batch);
    out.push(batch);
  }
}

describe("DrainPlanner", () => {
  it("sends alarms and events before telemetry, whatever their seqs", () => {
    telemetry(30);
    outbox.append("alarm", [{ ts: now, json: '{"a":1}' }]);
    outbox.append("event", [{ ts: now, json: '{"e":1}' }]);
    const p = planner({ inflight: 10 });
    p.onConnect();
    const batches = takeAll(p);
    expect(batches[0]?.stream).toBe("priority");
    expect(batches[0]?.rows.map((r) => r.kind)).toEqual(["alarm", "event"]);
    expect(batches.slice(1).every((b) => b.stream === "backlog" && b.rows.every((r) => r.kind === "telemetry"))).toBe(true);
  });

  it("after an outage sends live data first and keeps one in-flight slot out of the backlog's reach", () => {
    telemetry(100); // stored while the link was down: backlog
    const p = planner({ inflight: 4 });
    p.onConnect();
    telemetry(10); // stored after the connection came up: live
    const first = takeAll(p);
    expect(first.map((b) => b.stream)).toEqual(["live", "backlog", "backlog", "backlog"]);
    expect(first[0]?.rows[0]?.firstSeq).toBe(101);
    // The window is full; once the live batch is acknowledged, new live data finds a free slot at once,
    // while the backlog still may not take the last one.
    p.acked(first[0] as PlannedBatch);
    telemetry(10);
    const second = takeAll(p);
    expect(second.map((b) => b.stream)).toEqual(["live"]);
  });

  it("walks the backlog oldest first, whole rows, without gaps or repeats", () => {
    telemetry(95);
    const p = planner({ inflight: 2 });
    p.onConnect();
    const seen: number[] = [];
    for (let guard = 0; guard < 100; guard++) {
      const batches = takeAll(p);
      if (batches.length === 0) break;
      for (const b of batches) {
        for (const r of b.rows) for (let s = r.firstSeq; s < r.firstSeq + r.count; s++) seen.push(s);
        outbox.ack(b.rows.map((r) => r.firstSeq));
        p.acked(b);
      }
    }
    expect(seen).toEqual(Array.from({ length: 95 }, (_, i) => i + 1));
  });

  it("reads a batch again after it failed (a duplicate at worst, never a gap)", () => {
    telemetry(20);
    const p = planner({ inflight: 3 });
    p.onConnect();
    const [a, b] = takeAll(p);
    p.failed(a as PlannedBatch);
    const again = takeAll(p);
    expect(again[0]?.rows.map((r) => r.firstSeq)).toEqual(a?.rows.map((r) => r.firstSeq));
    // b is still in flight: it is not read twice.
    expect(again.some((x) => x.rows.some((r) => r.firstSeq === b?.rows[0]?.firstSeq))).toBe(false);
  });

  it("caps the backlog at backlogMaxPerS and says when to come back", () => {
    telemetry(100);
    const p = planner({ inflight: 10, perS: 20 });
    p.onConnect();
    // No tokens at the start of a drain: the first batch of 10 needs half a second.
    expect(p.next(true)).toMatchObject({ batch: null, waitMs: 500 });
    now += 500;
    const r1 = p.next(true);
    expect(r1.batch?.count).toBe(10);
    p.sent(r1.batch as PlannedBatch);
    expect(p.next(true).waitMs).toBe(500);
    // Live data is not held by the cap.
    telemetry(10);
    expect(p.next(true).batch?.stream).toBe("live");
  });

  it("reports pending, the acknowledged rate and the time to empty", () => {
    telemetry(100);
    const p = planner({ inflight: 10 });
    p.onConnect();
    expect(p.progress()).toEqual({ pending: 100, ratePerS: 0, etaS: null, backlog: true, liveFromSeq: 101 });
    for (let i = 0; i < 4; i++) {
      const { batch } = p.next(true);
      p.sent(batch as PlannedBatch);
      outbox.ack((batch as PlannedBatch).rows.map((r) => r.firstSeq));
      p.acked(batch as PlannedBatch);
      now += 1000;
    }
    // 40 acknowledged over 4 s: 10/s, 60 to go: 6 s.
    expect(p.progress()).toEqual({ pending: 60, ratePerS: 10, etaS: 6, backlog: true, liveFromSeq: 101 });
  });

  it("counts the in-flight window in batches, not rows (a batch of many small rows is one)", () => {
    for (let i = 0; i < 40; i++) telemetry(1); // 40 rows of one record, as 20 ms commits leave them
    const p = planner({ inflight: 3, batch: 10 });
    p.onConnect();
    const batches = takeAll(p);
    // Two backlog batches of 10 rows each (the third slot stays free for live data).
    expect(batches.map((b) => [b.stream, b.rows.length])).toEqual([
      ["backlog", 10],
      ["backlog", 10],
    ]);
    expect(p.inflightCount).toBe(2);
  });

  it("a live batch that fails after a reconnect made it backlog is read again by the backlog walk", () => {
    const p = planner({ inflight: 4, perS: 10 });
    p.onConnect();
    telemetry(10);
    const [live] = takeAll(p);
    expect(live?.stream).toBe("live");
    // The link drops and comes back before that batch is settled: its rows are now backlog.
    telemetry(10);
    p.onConnect();
    p.failed(live as PlannedBatch);
    now += 1000;
    const again = takeAll(p);
    // Read once, by the backlog stream under its rate cap; not re-read as "live" by a rewound live cursor.
    expect(again.map((b) => [b.stream, b.rows[0]?.firstSeq])).toEqual([["backlog", 1]]);
  });
});

