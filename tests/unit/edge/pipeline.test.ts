import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { toEngineering, toRaw } from "../../../edge/pipeline/scaling.js";
import { Pipeline, type PipelinePoint } from "../../../edge/pipeline/pipeline.js";
import { SqliteOutbox } from "../../../edge/store/sqlite-outbox.js";
import type { NewRecord, Outbox, RecordKind } from "../../../edge/store/outbox.js";
import type { Logger } from "../../../edge/logger.js";
import type { Sample } from "../../../edge/model.js";

describe("toEngineering", () => {
  it("applies raw * scale + offset", () => {
    expect(toEngineering(100, { scale: 2, offset: 5 })).toBe(205);
    expect(toEngineering(-40, { scale: 0.5, offset: -273.15 })).toBe(-293.15);
  });

  it("gives tidy numbers for decimal scales (no float noise)", () => {
    // plain JS arithmetic shows the noise the function must remove
    expect(234 * 0.1).not.toBe(23.4);
    expect(toEngineering(234, { scale: 0.1, offset: 0 })).toBe(23.4);
    expect(toEngineering(3, { scale: 0.1, offset: 0 })).toBe(0.3);
    expect(toEngineering(7, { scale: 0.01, offset: 0 })).toBe(0.07);
    expect(toEngineering(1, { scale: 0.1, offset: 0.2 })).toBe(0.3);
    for (let raw = -1000; raw <= 1000; raw++) {
      expect(toEngineering(raw, { scale: 0.1, offset: 0 })).toBe(Number((raw / 10).toFixed(1)));
    }
  });

  it("passes values through unchanged with identity scaling", () => {
    expect(toEngineering(1.0000000000000002, { scale: 1, offset: 0 })).toBe(1.0000000000000002);
    expect(toEngineering("18446744073709551615", { scale: 1, offset: 0 })).toBe("18446744073709551615");
  });

  it("passes booleans through", () => {
    expect(toEngineering(true, { scale: 10, offset: 3 })).toBe(true);
    expect(toEngineering(false, { scale: 10, offset: 3 })).toBe(false);
  });

  it("passes non-numeric strings through", () => {
    expect(toEngineering("RUNNING", { scale: 0.1, offset: 0 })).toBe("RUNNING");
    // Number("") and Number(" ") are 0: a blank text must not turn into the offset
    expect(toEngineering("", { scale: 0.1, offset: 5 })).toBe("");
    expect(toEngineering("  ", { scale: 2, offset: 0 })).toBe("  ");
  });

  it("scales numeric strings (64-bit integers) into numbers", () => {
    expect(toEngineering("9007199254740993", { scale: 0.001, offset: 0 })).toBeCloseTo(9007199254740.993, 0);
    expect(toEngineering("250", { scale: 0.1, offset: 0 })).toBe(25);
  });
});

describe("toRaw", () => {
  it("inverts toEngineering", () => {
    const s = { scale: 0.1, offset: -40 };
    for (let raw = -500; raw <= 500; raw += 7) {
      const eng = toEngineering(raw, s);
      expect(toRaw(eng, s)).toBe(raw);
    }
    expect(toRaw(23.4, { scale: 0.1, offset: 0 })).toBe(234);
    expect(toRaw(205, { scale: 2, offset: 5 })).toBe(100);
  });

  it("gives back the exact raw integer for common scale/offset pairs (so an integer register accepts it)", () => {
    const scalings = [
      { scale: 0.1, offset: -40 },
      { scale: 0.01, offset: 0 },
      { scale: 0.001, offset: 1000 },
      { scale: 0.1, offset: -273.15 },
      { scale: 2, offset: 5 },
      { scale: -0.5, offset: 100 },
      { scale: 0.05, offset: -0.5 },
      { scale: 1, offset: -40 },
    ];
    for (const sc of scalings) {
      for (let raw = -2000; raw <= 70000; raw += raw < 2000 ? 1 : 997) {
        const eng = toEngineering(raw, sc);
        expect(toRaw(eng, sc), `${JSON.stringify(sc)} raw ${raw} eng ${String(eng)}`).toBe(raw);
      }
    }
  });

  it("passes booleans and identity-scaled values through", () => {
    expect(toRaw(true, { scale: 0.1, offset: 0 })).toBe(true);
    expect(toRaw("18446744073709551615", { scale: 1, offset: 0 })).toBe("18446744073709551615");
    expect(toRaw(7.25, { scale: 1, offset: 0 })).toBe(7.25);
  });
});

// --- Pipeline -------------------------------------------------------------------------------------

interface LogCall {
  level: string;
  obj: unknown;
  msg: unknown;
}

function recordingLogger(calls: LogCall[]): Logger {
  const make = (level: string) => (obj: unknown, msg?: unknown) => {
    calls.push({ level, obj, msg });
  };
  const logger = {
    trace: make("trace"),
    debug: make("debug"),
    info: make("info"),
    warn: make("warn"),
    error: make("error"),
    fatal: make("fatal"),
    child: () => logger,
  };
  return logger as unknown as Logger;
}

const T0 = 1_700_000_000_000;

function s(point: string, value: Sample["value"], quality: Sample["quality"] = "good", ts = T0): Sample {
  return { point, ts, value, quality };
}

/** An outbox that forwards to `inner`, records every append, and fails appends while `fail()` says so. */
function spyOutbox(inner: Outbox, fail: () => boolean = () => false) {
  const appends: Array<{ kind: RecordKind; records: NewRecord[] }> = [];
  const outbox: Outbox = {
    get epoch() {
      return inner.epoch;
    },
    get lastSeq() {
      return inner.lastSeq;
    },
    append: (kind, records) => {
      appends.push({ kind, records: [...records] });
      if (fail()) throw new Error("disk I/O error");
      return inner.append(kind, records);
    },
    peek: (after, max) => inner.peek(after, max),
    peekPriority: (after, max) => inner.peekPriority(after, max),
    peekTelemetry: (after, max) => inner.peekTelemetry(after, max),
    ack: (firstSeqs) => inner.ack(firstSeqs),
    enforceBounds: (now) => inner.enforceBounds(now),
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
  return { outbox, appends };
}

describe("Pipeline with a SQLite outbox", () => {
  let dir: string;
  let outbox: SqliteOutbox;
  let logs: LogCall[];

  const points: PipelinePoint[] = [
    { id: "temp", scale: 0.1, offset: 0, deadband: 0.5 },
    { id: "count", scale: 1, offset: 0, deadband: 0 },
    { id: "state", scale: 1, offset: 0, deadband: 1 },
  ];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edge-pipeline-"));
    outbox = new SqliteOutbox({ path: join(dir, "outbox.db"), maxRows: 10_000, maxAgeMs: 0, synchronous: "normal" });
    logs = [];
  });

  afterEach(() => {
    vi.useRealTimers();
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every stored record, oldest first, parsed from the row bodies (each carries its seq). */
  const storedWithSeq = (): Array<Sample & { seq: number }> =>
    outbox.peek(0, 1_000_000).flatMap((r) => JSON.parse(r.body) as Array<Sample & { seq: number }>);

  /** The stored samples without their seq. */
  const stored = (): Sample[] => storedWithSeq().map(({ seq: _seq, ...sample }) => sample);

  /** Rows straight from the file. */
  const fileRows = (): Array<{ first_seq: number; count: number; kind: string; ts: number }> => {
    const db = new Database(join(dir, "outbox.db"), { readonly: true });
    try {
      return db.prepare("SELECT first_seq, count, kind, ts FROM outbox ORDER BY first_seq").all() as Array<{
        first_seq: number;
        count: number;
        kind: string;
        ts: number;
      }>;
    } finally {
      db.close();
    }
  };

  it("stores scaled samples as one telemetry row, each record with its seq", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    p.process([s("temp", 234, "good", T0 + 5), s("count", 7, "good", T0 + 6)]);
    expect(outbox.peek(0, 10).map((r) => [r.firstSeq, r.count, r.kind])).toEqual([[1, 2, "telemetry"]]);
    // the row's ts is its newest sample's ts
    expect(fileRows()).toEqual([{ first_seq: 1, count: 2, kind: "telemetry", ts: T0 + 6 }]);
    expect(storedWithSeq()).toEqual([
      { seq: 1, ...s("temp", 23.4, "good", T0 + 5) },
      { seq: 2, ...s("count", 7, "good", T0 + 6) },
    ]);
    expect(p.counters).toEqual({ received: 2, stored: 2, filtered: 0, unknown: 0, storeErrors: 0 });
    expect(p.latest().get("temp")?.value).toBe(23.4);
  });

  it("deadband filters small changes and passes big ones (in engineering units)", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    p.process([s("temp", 200)]); // 20.0 stored (first value)
    p.process([s("temp", 203)]); // 20.3: within 0.5
    p.process([s("temp", 205)]); // 20.5: exactly the deadband -> still within
    p.process([s("temp", 206)]); // 20.6: beyond -> stored
    p.process([s("temp", 202)]); // 20.2: 0.4 from 20.6 -> filtered
    p.process([s("temp", 200)]); // 20.0: 0.6 from the last *stored* 20.6 -> stored
    expect(stored().map((x) => x.value)).toEqual([20, 20.6, 20]);
    expect(p.counters.filtered).toBe(3);
    expect(p.counters.stored).toBe(3);
    expect(p.counters.received).toBe(6);
    expect(p.latest().get("temp")?.value).toBe(20);
  });

  it("deadband compares with the last stored value, so a slow drift is still reported", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    for (let raw = 200; raw <= 220; raw++) p.process([s("temp", raw)]); // +0.1 each
    // stored at 20.0, then whenever the drift exceeds 0.5: 20.6, 21.2, 21.8
    expect(stored().map((x) => x.value)).toEqual([20, 20.6, 21.2, 21.8]);
  });

  it("a quality change always passes the deadband", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    p.process([s("temp", 200, "good")]);
    p.process([s("temp", 200, "uncertain")]);
    p.process([s("temp", null, "bad")]);
    p.process([s("temp", 200, "good")]);
    expect(stored().map((x) => [x.value, x.quality])).toEqual([
      [20, "good"],
      [20, "uncertain"],
      [null, "bad"],
      [20, "good"],
    ]);
    expect(p.counters.filtered).toBe(0);
  });

  it("deadband 0 stores every reading, even repeats", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    p.process([s("count", 1)]);
    p.process([s("count", 1)]);
    p.process([s("count", 1)]);
    expect(stored()).toHaveLength(3);
    expect(p.counters.filtered).toBe(0);
  });

  it("non-numeric values with a deadband are stored only when they change", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    p.process([s("state", true)]);
    p.process([s("state", true)]);
    p.process([s("state", false)]);
    p.process([s("state", "RUN")]);
    p.process([s("state", "RUN")]);
    expect(stored().map((x) => x.value)).toEqual([true, false, "RUN"]);
    expect(p.counters.filtered).toBe(2);
  });

  it("deadband within one batch compares with the sample kept just before it", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    p.process([s("temp", 100, "good", T0), s("temp", 101, "good", T0 + 1), s("temp", 110, "good", T0 + 2)]);
    // 10.0 kept; 10.1 within 0.5 of 10.0; 11.0 beyond
    expect(stored().map((x) => x.value)).toEqual([10, 11]);
    expect(p.counters.filtered).toBe(1);
  });

  it("counts samples of unknown points and never stores them", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    p.process([s("nope", 1), s("count", 2), s("also-nope", 3)]);
    expect(p.counters.unknown).toBe(2);
    expect(p.counters.received).toBe(3);
    expect(p.counters.stored).toBe(1);
    expect(stored().map((x) => x.point)).toEqual(["count"]);
    expect(p.latest().has("nope")).toBe(false);
  });

  it("commits one driver batch with one append (one row) and calls onStored once after it", () => {
    const spy = spyOutbox(outbox);
    let storedCalls = 0;
    let pendingAtCallback = -1;
    const p = new Pipeline({
      points,
      outbox: spy.outbox,
      logger: recordingLogger(logs),
      onStored: () => {
        storedCalls++;
        pendingAtCallback = outbox.stats().pending;
      },
    });
    p.process([s("count", 1), s("count", 2), s("temp", 10), s("temp", 500)]);
    expect(spy.appends).toHaveLength(1);
    expect(spy.appends[0]?.kind).toBe("telemetry");
    expect(spy.appends[0]?.records).toHaveLength(4);
    expect(storedCalls).toBe(1);
    expect(pendingAtCallback).toBe(4); // already committed when the callback runs
    expect(outbox.stats().lastSeq).toBe(4);
    expect(fileRows().map((r) => [r.first_seq, r.count])).toEqual([[1, 4]]);
  });

  it("with commitDelayMs 0 (the default) commits inside process(), leaving no timer behind", () => {
    vi.useFakeTimers();
    const spy = spyOutbox(outbox);
    const p = new Pipeline({ points, outbox: spy.outbox, logger: recordingLogger(logs), commitDelayMs: 0 });
    p.process([s("count", 1)]);
    expect(spy.appends).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
    p.process([s("count", 2)]);
    expect(spy.appends).toHaveLength(2);
    expect(outbox.stats().pending).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does not touch the store nor call onStored when nothing is kept", () => {
    const spy = spyOutbox(outbox);
    let storedCalls = 0;
    const p = new Pipeline({ points, outbox: spy.outbox, logger: recordingLogger(logs), onStored: () => storedCalls++ });
    p.process([]);
    p.process([s("unknown", 1)]);
    p.process([s("temp", 100)]);
    p.process([s("temp", 101)]); // filtered
    p.flush(); // nothing buffered
    expect(spy.appends).toHaveLength(1);
    expect(storedCalls).toBe(1);
    expect(outbox.stats().lastSeq).toBe(1);
  });

  it("a store failure is counted, logged, does not throw, and does not move the deadband reference", () => {
    let fail = true;
    const spy = spyOutbox(outbox, () => fail);
    let storedCalls = 0;
    const p = new Pipeline({ points, outbox: spy.outbox, logger: recordingLogger(logs), onStored: () => storedCalls++ });
    expect(() => p.process([s("temp", 200), s("count", 1)])).not.toThrow();
    expect(p.counters).toEqual({ received: 2, stored: 0, filtered: 0, unknown: 0, storeErrors: 2 });
    expect(storedCalls).toBe(0);
    expect(p.latest().size).toBe(0);
    expect(logs.some((l) => l.level === "error" && JSON.stringify(l.obj).includes("disk I/O error"))).toBe(true);
    expect(logs.some((l) => l.level === "error" && (l.obj as { lost?: number }).lost === 2)).toBe(true);

    // the store recovers: the same value is not filtered (the failed one was never stored)
    fail = false;
    p.process([s("temp", 200)]);
    expect(p.counters.stored).toBe(1);
    expect(p.counters.filtered).toBe(0);
    expect(stored().map((x) => x.value)).toEqual([20]);
    expect(storedCalls).toBe(1);
  });

  it("after a store failure the deadband reference falls back to the last stored sample", () => {
    let fail = false;
    const spy = spyOutbox(outbox, () => fail);
    const p = new Pipeline({ points, outbox: spy.outbox, logger: recordingLogger(logs) });
    p.process([s("temp", 200)]); // 20.0 stored
    fail = true;
    p.process([s("temp", 210)]); // 21.0 kept, but the write fails
    expect(p.counters.storeErrors).toBe(1);
    fail = false;
    // 21.0 again: compared with the stored 20.0, not the lost 21.0 -> stored
    p.process([s("temp", 210)]);
    expect(stored().map((x) => x.value)).toEqual([20, 21]);
    fail = true;
    p.process([s("temp", 220)]); // 22.0 lost
    fail = false;
    // 21.3: within 0.5 of the stored 21.0 (the reference was not dropped, it fell back) -> filtered
    p.process([s("temp", 213)]);
    expect(p.counters.filtered).toBe(1);
    expect(stored().map((x) => x.value)).toEqual([20, 21]);
    expect(p.latest().get("temp")?.value).toBe(21);
  });

  it("stores the sample as JSON with its seq first, and keeps reason on bad samples", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    const sample: Sample = { point: "temp", ts: T0, value: null, quality: "bad", reason: "timeout" };
    p.process([sample]);
    const row = outbox.peek(0, 1)[0]!;
    expect(row.body).toBe(`[{"seq":1,${JSON.stringify(sample).slice(1)}]`);
    expect(JSON.parse(row.body)).toEqual([{ seq: 1, point: "temp", ts: T0, value: null, quality: "bad", reason: "timeout" }]);
  });

  describe("commitDelayMs", () => {
    it("coalesces every batch inside the window into one append, one row, one onStored", () => {
      vi.useFakeTimers();
      const spy = spyOutbox(outbox);
      let storedCalls = 0;
      const p = new Pipeline({
        points,
        outbox: spy.outbox,
        logger: recordingLogger(logs),
        commitDelayMs: 50,
        onStored: () => storedCalls++,
      });
      p.process([s("count", 1, "good", T0), s("temp", 100, "good", T0)]);
      vi.advanceTimersByTime(20);
      p.process([s("count", 2, "good", T0 + 1)]);
      vi.advanceTimersByTime(20);
      p.process([s("count", 3, "good", T0 + 2), s("state", "RUN", "good", T0 + 2)]);
      // nothing committed yet: not in the file, not counted as stored, not shown by latest()
      expect(spy.appends).toHaveLength(0);
      expect(outbox.stats().pending).toBe(0);
      expect(fileRows()).toEqual([]);
      expect(p.counters.stored).toBe(0);
      expect(p.latest().size).toBe(0);
      expect(storedCalls).toBe(0);
      vi.advanceTimersByTime(9); // 49 ms after the first batch
      expect(spy.appends).toHaveLength(0);
      vi.advanceTimersByTime(1); // 50 ms: the window closes
      expect(spy.appends).toHaveLength(1);
      expect(spy.appends[0]?.records).toHaveLength(5);
      expect(fileRows()).toEqual([{ first_seq: 1, count: 5, kind: "telemetry", ts: T0 + 2 }]);
      expect(stored()).toEqual([
        s("count", 1, "good", T0),
        s("temp", 10, "good", T0),
        s("count", 2, "good", T0 + 1),
        s("count", 3, "good", T0 + 2),
        s("state", "RUN", "good", T0 + 2),
      ]);
      expect(p.counters).toEqual({ received: 5, stored: 5, filtered: 0, unknown: 0, storeErrors: 0 });
      expect(storedCalls).toBe(1);
      expect(p.latest().get("count")?.value).toBe(3);
      expect(vi.getTimerCount()).toBe(0);
    });

    it("the window starts at the first kept sample and is not extended by later ones", () => {
      vi.useFakeTimers();
      const spy = spyOutbox(outbox);
      const p = new Pipeline({ points, outbox: spy.outbox, logger: recordingLogger(logs), commitDelayMs: 50 });
      p.process([s("count", 1)]); // t = 0: opens a window until 50
      vi.advanceTimersByTime(30);
      p.process([s("count", 2)]); // t = 30
      vi.advanceTimersByTime(20); // t = 50: commits 1 and 2 even though 2 arrived 20 ms ago
      expect(spy.appends.map((a) => a.records.length)).toEqual([2]);
      vi.advanceTimersByTime(10);
      p.process([s("count", 3)]); // t = 60: a new window until 110
      vi.advanceTimersByTime(49);
      expect(spy.appends).toHaveLength(1);
      vi.advanceTimersByTime(1);
      expect(spy.appends.map((a) => a.records.length)).toEqual([2, 1]);
      expect(fileRows().map((r) => [r.first_seq, r.count])).toEqual([
        [1, 2],
        [3, 1],
      ]);
    });

    it("a batch with nothing kept does not open a window", () => {
      vi.useFakeTimers();
      const p = new Pipeline({ points, outbox, logger: recordingLogger(logs), commitDelayMs: 50 });
      p.process([s("unknown", 1)]);
      p.process([]);
      expect(vi.getTimerCount()).toBe(0);
    });

    it("flush() commits what is buffered immediately and cancels the window's timer", () => {
      vi.useFakeTimers();
      const spy = spyOutbox(outbox);
      let storedCalls = 0;
      const p = new Pipeline({
        points,
        outbox: spy.outbox,
        logger: recordingLogger(logs),
        commitDelayMs: 1000,
        onStored: () => storedCalls++,
      });
      p.process([s("count", 1)]);
      p.process([s("count", 2), s("temp", 300)]);
      expect(vi.getTimerCount()).toBe(1);
      expect(outbox.stats().pending).toBe(0);
      p.flush();
      expect(spy.appends).toHaveLength(1);
      expect(outbox.stats().pending).toBe(3);
      expect(fileRows().map((r) => [r.first_seq, r.count])).toEqual([[1, 3]]);
      expect(p.latest().get("temp")?.value).toBe(30);
      expect(storedCalls).toBe(1);
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(5000);
      expect(spy.appends).toHaveLength(1); // nothing committed twice
      p.flush(); // nothing buffered now
      expect(spy.appends).toHaveLength(1);
      expect(storedCalls).toBe(1);
      // the next sample opens a new window
      p.process([s("count", 3)]);
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(1000);
      expect(spy.appends).toHaveLength(2);
      expect(outbox.stats().pending).toBe(4);
    });

    it("with a real timer, the window commits on its own within a bounded wait", async () => {
      const spy = spyOutbox(outbox);
      let storedCalls = 0;
      const p = new Pipeline({
        points,
        outbox: spy.outbox,
        logger: recordingLogger(logs),
        commitDelayMs: 20,
        onStored: () => storedCalls++,
      });
      for (let i = 0; i < 5; i++) p.process([s("count", i)]);
      expect(spy.appends).toHaveLength(0);
      const deadline = Date.now() + 2000;
      while (storedCalls === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(storedCalls).toBe(1);
      expect(spy.appends).toHaveLength(1);
      expect(fileRows().map((r) => [r.first_seq, r.count])).toEqual([[1, 5]]);
    });

    it("the deadband reference is the last kept sample, even while it is only buffered", () => {
      vi.useFakeTimers();
      const p = new Pipeline({ points, outbox, logger: recordingLogger(logs), commitDelayMs: 50 });
      p.process([s("temp", 200, "good", T0)]); // 20.0 kept (buffered)
      p.process([s("temp", 203, "good", T0 + 1)]); // 20.3: within 0.5 of the buffered 20.0 -> filtered
      p.process([s("temp", 206, "good", T0 + 2)]); // 20.6 kept
      p.process([s("temp", 209, "good", T0 + 3)]); // 20.9: within 0.5 of the buffered 20.6 -> filtered
      expect(p.counters.filtered).toBe(2);
      expect(p.latest().size).toBe(0); // latest() shows only what is committed
      p.flush();
      expect(stored().map((x) => x.value)).toEqual([20, 20.6]);
      expect(p.latest().get("temp")?.value).toBe(20.6);
      // after the commit the reference is still the last kept 20.6
      p.process([s("temp", 210, "good", T0 + 4)]); // 21.0: within 0.5 -> filtered
      expect(p.counters.filtered).toBe(3);
    });

    it("a failed commit loses the whole window, counts it, and the reference falls back to the last stored", () => {
      vi.useFakeTimers();
      let fail = false;
      const spy = spyOutbox(outbox, () => fail);
      let storedCalls = 0;
      const p = new Pipeline({
        points,
        outbox: spy.outbox,
        logger: recordingLogger(logs),
        commitDelayMs: 50,
        onStored: () => storedCalls++,
      });
      p.process([s("temp", 200)]);
      p.flush(); // 20.0 stored
      fail = true;
      p.process([s("temp", 210)]); // 21.0 buffered
      p.process([s("count", 1), s("count", 2)]);
      expect(p.counters.filtered).toBe(0);
      vi.advanceTimersByTime(50); // the commit fails
      expect(spy.appends).toHaveLength(2);
      expect(p.counters.storeErrors).toBe(3);
      expect(p.counters.stored).toBe(1);
      expect(storedCalls).toBe(1);
      expect(logs.some((l) => l.level === "error" && (l.obj as { lost?: number }).lost === 3)).toBe(true);
      expect(p.latest().get("temp")?.value).toBe(20);
      expect(p.latest().has("count")).toBe(false);
      fail = false;
      p.process([s("temp", 210)]); // compared with the stored 20.0, not the lost 21.0 -> kept
      p.process([s("temp", 202)]); // 20.2: 0.8 from the buffered 21.0 -> kept
      p.flush();
      expect(stored().map((x) => x.value)).toEqual([20, 21, 20.2]);
      expect(p.counters.storeErrors).toBe(3);
      expect(storedCalls).toBe(2);
    });

    it("a large window is stored in rows of the outbox's rowMax with contiguous seqs", () => {
      vi.useFakeTimers();
      const spy = spyOutbox(outbox);
      const p = new Pipeline({ points, outbox: spy.outbox, logger: recordingLogger(logs), commitDelayMs: 100 });
      for (let i = 0; i < 12; i++) p.process(Array.from({ length: 100 }, (_, j) => s("count", i * 100 + j, "good", T0 + i)));
      vi.advanceTimersByTime(100);
      expect(spy.appends).toHaveLength(1);
      expect(fileRows().map((r) => [r.first_seq, r.count])).toEqual([
        [1, 500],
        [501, 500],
        [1001, 200],
      ]);
      const all = storedWithSeq();
      expect(all.map((x) => x.seq)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
      expect(all.map((x) => x.value)).toEqual(Array.from({ length: 1200 }, (_, i) => i));
    });
  });
});
