import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteOutbox, type SqliteOutboxOptions } from "../../../edge/store/sqlite-outbox.js";
import type { NewRecord, RecordKind } from "../../../edge/store/outbox.js";
import { StoreWriter } from "../../../edge/store/store-writer.js";
import { DropReporter } from "../../../edge/store/drop-report.js";
import { capturingLogger } from "../../helpers/logger.js";

const T0 = 1_700_000_000_000;
let dir: string;
let open: SqliteOutbox[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edge-bounds-"));
  open = [];
});
afterEach(() => {
  for (const o of open) o.close();
  rmSync(dir, { recursive: true, force: true });
});

function make(opts: Partial<SqliteOutboxOptions> = {}): SqliteOutbox {
  const o = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 10_000_000, maxAgeMs: 0, synchronous: "normal", ...opts });
  open.push(o);
  return o;
}

/** n records of about 100 bytes each. */
function recs(n: number, tag = "t"): NewRecord[] {
  return Array.from({ length: n }, (_, i) => ({ ts: T0 + i, json: JSON.stringify({ point: `${tag}-${i % 50}`, ts: T0 + i, value: i * 1.234567, quality: "good", pad: "x".repeat(40) }) }));
}

const kinds = (o: SqliteOutbox): RecordKind[] => [...new Set(o.peek(0, 10_000_000).map((r) => r.kind))];

describe("byte bound (maxBytes)", () => {
  it("keeps the database under its bound while far more than it holds is written, history going first", () => {
    const maxBytes = 2 * 1024 * 1024;
    const o = make({ maxBytes, history: { enabled: true, maxAgeMs: 0, maxBytes: 0 } });
    let peak = 0;
    // ~10 MB of records through a 2 MB store.
    for (let i = 0; i < 200; i++) {
      o.append("telemetry", recs(500));
      peak = Math.max(peak, o.stats().bytes);
    }
    const s = o.stats();
    expect(peak).toBeLessThanOrEqual(maxBytes);
    expect(statSync(join(dir, "edge.db")).size).toBeLessThanOrEqual(maxBytes);
    // The outbox kept the newest records and counted every one it had to drop.
    expect(s.dropped.bytes).toBeGreaterThan(50_000);
    expect(s.dropped.total).toBe(s.dropped.bytes);
    expect(s.pending + s.dropped.bytes).toBe(100_000);
    const seqs = o.peek(0, 10_000_000).flatMap((r) => (JSON.parse(r.body) as Array<{ seq: number }>).map((x) => x.seq));
    expect(seqs[seqs.length - 1]).toBe(100_000);
    expect(seqs[0]).toBe(s.dropped.bytes + 1);
    // History, already a copy, went before any pending record: it holds nothing older than the outbox.
    expect(s.history.dropped).toBeGreaterThan(0);
  });

  it("drops telemetry before events and alarms", () => {
    const o = make({ maxBytes: 1024 * 1024, history: { enabled: false, maxAgeMs: 0, maxBytes: 0 } });
    o.append("alarm", recs(100, "alarm"));
    o.append("event", recs(100, "event"));
    for (let i = 0; i < 60; i++) o.append("telemetry", recs(500));
    expect(o.stats().dropped.bytes).toBeGreaterThan(0);
    expect(kinds(o)).toEqual(expect.arrayContaining(["alarm", "event", "telemetry"]));
    expect(o.peekPriority(0, 1000).reduce((n, r) => n + r.count, 0)).toBe(200);
  });

  it("gives space back to the file system once the outbox drained", () => {
    const o = make({ history: { enabled: false, maxAgeMs: 0, maxBytes: 0 } });
    for (let i = 0; i < 100; i++) o.append("telemetry", recs(500));
    o.close();
    open = [];
    const full = statSync(join(dir, "edge.db")).size;
    const again = make({ history: { enabled: false, maxAgeMs: 0, maxBytes: 0 } });
    again.ack(again.peek(0, 10_000_000).map((r) => r.firstSeq));
    again.enforceBounds(T0);
    again.close();
    open = [];
    expect(full).toBeGreaterThan(4 * 1024 * 1024);
    expect(statSync(join(dir, "edge.db")).size).toBeLessThan(full / 4);
  });
});

describe("disk full (SQLite's page limit)", () => {
  function fullStore() {
    // The byte bound's hard stop (max_page_count) stands in for a full disk: one append bigger than the
    // whole store fails the way a full file system fails it (SQLITE_FULL), and rolls back.
    return make({ maxBytes: 256 * 1024, history: { enabled: false, maxAgeMs: 0, maxBytes: 0 } });
  }

  it("a write the disk cannot take fails whole: nothing half-stored, counters unchanged", () => {
    const o = fullStore();
    o.append("telemetry", recs(10));
    expect(() => o.append("telemetry", recs(5000))).toThrow(/full/i);
    expect(o.stats()).toMatchObject({ pending: 10, lastSeq: 10 });
    expect(o.append("telemetry", recs(1))).toEqual({ first: 11, last: 11 });
  });

  /** Stands in for a disk with `bytes` left for the file: SQLite's own page limit on the store's connection. */
  function setDiskLimit(o: SqliteOutbox, bytes: number): void {
    const db = (o as unknown as { db: { pragma(s: string): unknown } }).db;
    db.pragma(`max_page_count = ${Math.ceil(bytes / 4096)}`);
  }

  it("StoreWriter keeps running, holds the newest records in memory, and commits them in order when space returns", () => {
    const o = make({ history: { enabled: false, maxAgeMs: 0, maxBytes: 0 } });
    setDiskLimit(o, 256 * 1024);
    const log = capturingLogger();
    let now = T0;
    let stored = 0;
    const w = new StoreWriter({ outbox: o, logger: log.logger, clock: () => now, maxBuffered: 3000, retryMs: 60_000, onStored: () => stored++ });
    expect(w.append("telemetry", recs(10, "a"))).toBe(true);
    // Too big for the disk: held, and the fault is loud.
    expect(w.append("telemetry", recs(5000, "b"))).toBe(false);
    expect(w.status()).toMatchObject({ buffered: 3000, droppedFromMemory: 2000, faults: 1, fault: { code: "SQLITE_FULL", since: T0 } });
    expect(log.lines().some((l) => l.level === 50 && /STORE REFUSES WRITES/.test(String(l.msg)))).toBe(true);
    // While the fault lasts, new records queue behind the held ones.
    expect(w.append("alarm", [{ ts: T0, json: '{"alarm":"late"}' }])).toBe(false);
    expect(w.retry()).toBe(false);
    // Space returns (an operator cleared the disk).
    setDiskLimit(o, 64 * 1024 * 1024);
    now += 5000;
    expect(w.retry()).toBe(true);
    // The alarm took the place of the oldest held telemetry record.
    expect(w.status()).toMatchObject({ fault: null, buffered: 0, droppedFromMemory: 2001 });
    expect(stored).toBe(2);
    const rows = o.peek(0, 10_000_000);
    const records = rows.flatMap((r) => JSON.parse(r.body) as Array<{ seq: number; point?: string; alarm?: string }>);
    // The 10 "a" records, the newest 2999 "b" records, then the alarm: seqs contiguous, order kept.
    expect(records).toHaveLength(3010);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 3010 }, (_, i) => 1 + i));
    expect(records[10]?.point).toBe(`b-${2001 % 50}`);
    expect(records[3009]?.alarm).toBe("late");
    expect(log.lines().some((l) => /accepts writes again/.test(String(l.msg)))).toBe(true);
  });

  it("drops telemetry from memory before alarms", () => {
    const o = fullStore();
    const log = capturingLogger();
    const w = new StoreWriter({ outbox: o, logger: log.logger, clock: () => T0, maxBuffered: 100, retryMs: 60_000 });
    w.append("telemetry", recs(5000));
    w.append("alarm", recs(60, "alarm"));
    w.append("telemetry", recs(60));
    expect(w.status().buffered).toBe(100);
    // Each held alarm survived; the rest of the room went to the newest telemetry.
    const kept = (w as unknown as { held: Array<{ kind: string; records: unknown[] }> }).held.map((h) => [h.kind, h.records.length]);
    expect(kept).toEqual([
      ["alarm", 60],
      ["telemetry", 40],
    ]);
  });
});

describe("DropReporter", () => {
  it("reports each drop once, as the growth since the last report", () => {
    const r = new DropReporter();
    expect(r.next({ rows: 0, age: 0, bytes: 0, memory: 0 }, T0)).toBeNull();
    const first = r.next({ rows: 5, age: 0, bytes: 2, memory: 0 }, T0);
    expect(JSON.parse(first?.json ?? "{}")).toEqual({ type: "store.dropped", ts: T0, count: 7, byReason: { rows: 5, age: 0, bytes: 2, memory: 0 } });
    expect(r.next({ rows: 5, age: 0, bytes: 2, memory: 0 }, T0 + 1)).toBeNull();
    expect(JSON.parse(r.next({ rows: 5, age: 3, bytes: 2, memory: 1 }, T0 + 2)?.json ?? "{}")).toMatchObject({ count: 4, byReason: { age: 3, memory: 1 } });
  });
});
