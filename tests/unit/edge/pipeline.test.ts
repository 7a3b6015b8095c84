import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toEngineering, toRaw } from "../../../edge/pipeline/scaling.js";
import { Pipeline, type PipelinePoint } from "../../../edge/pipeline/pipeline.js";
import { SqliteOutbox } from "../../../edge/store/sqlite-outbox.js";
import type { Outbox, OutboxRecord } from "../../../edge/store/outbox.js";
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
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const stored = (): Sample[] => outbox.peek(0, 1000).map((r) => JSON.parse(r.body) as Sample);

  it("stores scaled samples as telemetry with the sample's ts", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    p.process([s("temp", 234, "good", T0 + 5), s("count", 7, "good", T0 + 6)]);
    const records = outbox.peek(0, 10);
    expect(records.map((r) => [r.kind, r.ts])).toEqual([
      ["telemetry", T0 + 5],
      ["telemetry", T0 + 6],
    ]);
    expect(stored()).toEqual([s("temp", 23.4, "good", T0 + 5), s("count", 7, "good", T0 + 6)]);
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

  it("commits one driver batch with one append and calls onStored once after it", () => {
    let appends = 0;
    let storedCalls = 0;
    let pendingAtCallback = -1;
    const counting: Outbox = {
      get epoch() {
        return outbox.epoch;
      },
      append: (kind, items) => {
        appends++;
        return outbox.append(kind, items);
      },
      peek: (a, l) => outbox.peek(a, l),
      ack: (seqs) => outbox.ack(seqs),
      enforceBounds: (now) => outbox.enforceBounds(now),
      stats: () => outbox.stats(),
      close: () => outbox.close(),
    };
    const p = new Pipeline({
      points,
      outbox: counting,
      logger: recordingLogger(logs),
      onStored: () => {
        storedCalls++;
        pendingAtCallback = outbox.stats().pending;
      },
    });
    p.process([s("count", 1), s("count", 2), s("temp", 10), s("temp", 500)]);
    expect(appends).toBe(1);
    expect(storedCalls).toBe(1);
    expect(pendingAtCallback).toBe(4); // already committed when the callback runs
    expect(outbox.stats().lastSeq).toBe(4);
  });

  it("does not touch the store nor call onStored when nothing is kept", () => {
    let storedCalls = 0;
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs), onStored: () => storedCalls++ });
    p.process([]);
    p.process([s("unknown", 1)]);
    p.process([s("temp", 100)]);
    p.process([s("temp", 101)]); // filtered
    expect(storedCalls).toBe(1);
    expect(outbox.stats().lastSeq).toBe(1);
  });

  it("a store failure is counted, logged, does not throw, and does not move the deadband reference", () => {
    let fail = true;
    const flaky: Outbox = {
      get epoch() {
        return outbox.epoch;
      },
      append: (kind, items) => {
        if (fail) throw new Error("disk I/O error");
        return outbox.append(kind, items);
      },
      peek: (a, l) => outbox.peek(a, l),
      ack: (seqs) => outbox.ack(seqs),
      enforceBounds: (now) => outbox.enforceBounds(now),
      stats: () => outbox.stats(),
      close: () => outbox.close(),
    };
    let storedCalls = 0;
    const p = new Pipeline({ points, outbox: flaky, logger: recordingLogger(logs), onStored: () => storedCalls++ });
    expect(() => p.process([s("temp", 200), s("count", 1)])).not.toThrow();
    expect(p.counters).toEqual({ received: 2, stored: 0, filtered: 0, unknown: 0, storeErrors: 2 });
    expect(storedCalls).toBe(0);
    expect(p.latest().size).toBe(0);
    expect(logs.some((l) => l.level === "error" && JSON.stringify(l.obj).includes("disk I/O error"))).toBe(true);

    // the store recovers: the same value is not filtered (the failed one was never stored)
    fail = false;
    p.process([s("temp", 200)]);
    expect(p.counters.stored).toBe(1);
    expect(p.counters.filtered).toBe(0);
    expect(stored().map((x) => x.value)).toEqual([20]);
    expect(storedCalls).toBe(1);
  });

  it("stores the sample as JSON without a seq, and keeps reason on bad samples", () => {
    const p = new Pipeline({ points, outbox, logger: recordingLogger(logs) });
    p.process([{ point: "temp", ts: T0, value: null, quality: "bad", reason: "timeout" }]);
    const rec: OutboxRecord = outbox.peek(0, 1)[0]!;
    expect(JSON.parse(rec.body)).toEqual({ point: "temp", ts: T0, value: null, quality: "bad", reason: "timeout" });
  });
});
