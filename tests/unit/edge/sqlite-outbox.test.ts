import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SqliteOutbox, type SqliteOutboxOptions } from "../../../edge/store/sqlite-outbox.js";
import type { RecordKind } from "../../../edge/store/outbox.js";
import { EdgeError } from "../../../edge/errors.js";

const T0 = 1_700_000_000_000;

let dir: string;
let open: SqliteOutbox[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edge-outbox-"));
  open = [];
});

afterEach(() => {
  for (const o of open) o.close();
  rmSync(dir, { recursive: true, force: true });
});

function make(opts: Partial<SqliteOutboxOptions> = {}, file = "outbox.db"): SqliteOutbox {
  const o = new SqliteOutbox({
    path: join(dir, file),
    maxRows: 100_000,
    maxAgeMs: 0,
    synchronous: "full",
    ...opts,
  });
  open.push(o);
  return o;
}

function items(n: number, ts = T0, tag = "x") {
  return Array.from({ length: n }, (_, i) => ({ ts: ts + i, body: JSON.stringify({ tag, i }) }));
}

/** Counts rows straight from the file, bypassing the class. */
function countRows(file = "outbox.db", where = "1"): number {
  const db = new Database(join(dir, file), { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM outbox WHERE ${where}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const seqsOf = (o: SqliteOutbox) => o.peek(0, 1_000_000).map((r) => r.seq);

describe("SqliteOutbox", () => {
  it("starts empty with lastSeq 0 and a hex epoch", () => {
    const o = make();
    expect(o.stats()).toEqual({
      pending: 0,
      sent: 0,
      dropped: { total: 0, rows: 0, age: 0 },
      lastSeq: 0,
      epoch: o.epoch,
    });
    expect(o.epoch).toMatch(/^[0-9a-f]{16}$/);
    expect(o.peek(0, 10)).toEqual([]);
  });

  it("assigns strictly increasing seqs from 1 and returns the range", () => {
    const o = make();
    expect(o.append("telemetry", items(3))).toEqual({ first: 1, last: 3 });
    expect(o.append("event", items(1))).toEqual({ first: 4, last: 4 });
    expect(o.append("telemetry", items(2))).toEqual({ first: 5, last: 6 });
    expect(seqsOf(o)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(o.stats().lastSeq).toBe(6);
    expect(o.stats().pending).toBe(6);
  });

  it("an empty append stores nothing and returns null", () => {
    const o = make();
    expect(o.append("telemetry", [])).toBeNull();
    expect(o.stats().pending).toBe(0);
    expect(o.stats().lastSeq).toBe(0);
  });

  it("peek returns records oldest first after the given seq, up to the limit, with kind/ts/body", () => {
    const o = make();
    o.append("telemetry", items(5, T0, "a"));
    o.append("alarm", [{ ts: T0 + 100, body: '{"alarm":"hot"}' }]);
    expect(o.peek(0, 2)).toEqual([
      { seq: 1, kind: "telemetry", ts: T0, body: '{"tag":"a","i":0}' },
      { seq: 2, kind: "telemetry", ts: T0 + 1, body: '{"tag":"a","i":1}' },
    ]);
    expect(o.peek(2, 2).map((r) => r.seq)).toEqual([3, 4]);
    expect(o.peek(4, 100)).toEqual([
      { seq: 5, kind: "telemetry", ts: T0 + 4, body: '{"tag":"a","i":4}' },
      { seq: 6, kind: "alarm", ts: T0 + 100, body: '{"alarm":"hot"}' },
    ]);
    expect(o.peek(6, 100)).toEqual([]);
    // peek does not consume
    expect(o.stats().pending).toBe(6);
    expect(o.peek(0, 100)).toHaveLength(6);
  });

  it("ack deletes exactly those seqs, counts them as sent, and is idempotent", () => {
    const o = make();
    o.append("telemetry", items(6));
    o.ack([2, 4]);
    expect(seqsOf(o)).toEqual([1, 3, 5, 6]);
    expect(o.stats().pending).toBe(4);
    expect(o.stats().sent).toBe(2);
    o.ack([2, 4]); // the same ack again
    o.ack([999, -1]); // seqs that never existed
    o.ack([]);
    expect(seqsOf(o)).toEqual([1, 3, 5, 6]);
    expect(o.stats().pending).toBe(4);
    expect(o.stats().sent).toBe(2);
    o.ack([1, 1, 3]); // duplicate inside one ack
    expect(seqsOf(o)).toEqual([5, 6]);
    expect(o.stats().sent).toBe(4);
    expect(o.stats().pending).toBe(countRows());
  });

  it("never reuses a seq after draining to empty", () => {
    const o = make();
    o.append("telemetry", items(4));
    o.ack([1, 2, 3, 4]);
    expect(o.stats().pending).toBe(0);
    expect(o.append("telemetry", items(2))).toEqual({ first: 5, last: 6 });
    expect(seqsOf(o)).toEqual([5, 6]);
  });

  it("never reuses a seq after close and reopen, and keeps the epoch", () => {
    const a = make();
    a.append("telemetry", items(3));
    a.ack([1, 2, 3]); // drained before the restart
    const epoch = a.epoch;
    a.close();
    const b = make();
    expect(b.epoch).toBe(epoch);
    expect(b.stats().lastSeq).toBe(3);
    expect(b.stats().pending).toBe(0);
    expect(b.append("telemetry", items(1))).toEqual({ first: 4, last: 4 });
    b.close();
    const c = make();
    expect(c.epoch).toBe(epoch);
    expect(c.stats().pending).toBe(1);
    expect(c.peek(0, 10).map((r) => r.seq)).toEqual([4]);
    expect(c.append("event", items(2))).toEqual({ first: 5, last: 6 });
  });

  it("close is idempotent and leaves no WAL behind", () => {
    const o = make();
    o.append("telemetry", items(10));
    o.close();
    expect(() => o.close()).not.toThrow();
    expect(existsSync(join(dir, "outbox.db-wal"))).toBe(false);
    expect(countRows()).toBe(10);
  });

  it("a new database file gets a different epoch", () => {
    const a = make({}, "one.db");
    const b = make({}, "two.db");
    expect(a.epoch).not.toBe(b.epoch);
    // a deleted and recreated file too
    a.close();
    rmSync(join(dir, "one.db"), { force: true });
    rmSync(join(dir, "one.db-wal"), { force: true });
    rmSync(join(dir, "one.db-shm"), { force: true });
    const again = make({}, "one.db");
    expect(again.epoch).not.toBe(a.epoch);
    expect(again.append("telemetry", items(1))).toEqual({ first: 1, last: 1 });
  });

  it("uses WAL journal mode and the requested synchronous level", () => {
    make({ synchronous: "full" }).append("telemetry", items(1));
    const db = new Database(join(dir, "outbox.db"), { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      db.close();
    }
  });

  it("creates missing parent directories", () => {
    const o = make({}, join("deep", "er", "outbox.db"));
    o.append("telemetry", items(1));
    expect(countRows(join("deep", "er", "outbox.db"))).toBe(1);
  });

  it("reports an unopenable path as EdgeError STORE_OPEN", () => {
    writeFileSync(join(dir, "not-a-db"), "this is not a sqlite database at all, just some text ".repeat(100));
    let caught: unknown;
    try {
      make({}, "not-a-db");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EdgeError);
    expect((caught as EdgeError).code).toBe("STORE_OPEN");
    expect((caught as EdgeError).message).toContain("not-a-db");
  });

  describe("row bound", () => {
    it("drops the oldest telemetry first, keeps events and alarms, and counts dropped.rows", () => {
      const o = make({ maxRows: 5 });
      o.append("telemetry", items(2, T0, "t-old")); // 1, 2
      o.append("alarm", [{ ts: T0, body: '{"a":1}' }]); // 3
      o.append("event", [{ ts: T0, body: '{"e":1}' }]); // 4
      o.append("telemetry", items(1, T0, "t-mid")); // 5 -> at the bound, nothing dropped
      expect(o.stats().dropped.rows).toBe(0);
      o.append("telemetry", items(3, T0, "t-new")); // 6, 7, 8 -> 3 over: drop 1, 2, 5
      const kinds = o.peek(0, 100).map((r) => [r.seq, r.kind]);
      expect(kinds).toEqual([
        [3, "alarm"],
        [4, "event"],
        [6, "telemetry"],
        [7, "telemetry"],
        [8, "telemetry"],
      ]);
      expect(o.stats().dropped).toEqual({ total: 3, rows: 3, age: 0 });
      expect(o.stats().pending).toBe(5);
      expect(countRows()).toBe(5);
      expect(o.stats().lastSeq).toBe(8);
    });

    it("drops telemetry of the batch being appended before any older alarm or event", () => {
      const o = make({ maxRows: 3 });
      o.append("alarm", items(1)); // 1
      o.append("event", items(1)); // 2
      o.append("telemetry", items(4)); // 3..6: 3 over the bound -> the 3 oldest telemetry (3, 4, 5) go
      expect(o.peek(0, 100).map((r) => [r.seq, r.kind])).toEqual([
        [1, "alarm"],
        [2, "event"],
        [6, "telemetry"],
      ]);
      expect(o.stats().dropped.rows).toBe(3);
      expect(o.stats().pending).toBe(countRows());
    });

    it("stays bounded even when only alarms and events are stored (they are dropped last, not never)", () => {
      const o = make({ maxRows: 3 });
      const kinds: RecordKind[] = ["event", "alarm", "event", "alarm", "event"];
      for (const kind of kinds) o.append(kind, items(1));
      expect(o.stats().pending).toBeLessThanOrEqual(3);
      expect(countRows()).toBe(o.stats().pending);
      expect(o.stats().dropped.rows).toBe(2);
      expect(o.stats().dropped.total).toBe(2);
      // the newest records are the ones kept
      expect(seqsOf(o)).toEqual(expect.arrayContaining([5]));
    });

    it("drops events before alarms once telemetry is gone", () => {
      const o = make({ maxRows: 2 });
      o.append("alarm", items(1)); // 1
      o.append("event", items(1)); // 2
      o.append("telemetry", items(1)); // 3 -> over: telemetry 3 goes
      expect(seqsOf(o)).toEqual([1, 2]);
      o.append("event", items(1)); // 4 -> over, no telemetry: oldest event (2) goes
      expect(o.peek(0, 10).map((r) => [r.seq, r.kind])).toEqual([
        [1, "alarm"],
        [4, "event"],
      ]);
      expect(o.stats().dropped.rows).toBe(2);
    });
  });

  describe("age bound", () => {
    it("enforceBounds drops telemetry older than maxAgeMs only, and counts dropped.age", () => {
      const o = make({ maxAgeMs: 60_000 });
      o.append("telemetry", [
        { ts: T0, body: '{"n":1}' },
        { ts: T0 + 30_000, body: '{"n":2}' },
        { ts: T0 + 90_000, body: '{"n":3}' },
      ]);
      o.append("alarm", [{ ts: T0, body: '{"old":"alarm"}' }]);
      o.append("event", [{ ts: T0, body: '{"old":"event"}' }]);
      const now = T0 + 120_000; // cutoff T0 + 60_000
      o.enforceBounds(now);
      expect(o.peek(0, 10).map((r) => [r.seq, r.kind])).toEqual([
        [3, "telemetry"],
        [4, "alarm"],
        [5, "event"],
      ]);
      expect(o.stats().dropped).toEqual({ total: 2, rows: 0, age: 2 });
      expect(o.stats().pending).toBe(3);
      expect(countRows()).toBe(3);
      // again at the same time: nothing more to drop
      o.enforceBounds(now);
      expect(o.stats().dropped.age).toBe(2);
    });

    it("a record exactly maxAgeMs old is kept", () => {
      const o = make({ maxAgeMs: 1000 });
      o.append("telemetry", [{ ts: T0, body: "{}" }]);
      o.enforceBounds(T0 + 1000);
      expect(o.stats().pending).toBe(1);
      o.enforceBounds(T0 + 1001);
      expect(o.stats().pending).toBe(0);
    });

    it("maxAgeMs 0 keeps telemetry forever", () => {
      const o = make({ maxAgeMs: 0 });
      o.append("telemetry", [{ ts: 0, body: "{}" }]);
      o.enforceBounds(T0 * 10);
      expect(o.stats().pending).toBe(1);
      expect(o.stats().dropped.total).toBe(0);
    });
  });

  it("a failed append stores nothing and leaves the counters as they were", () => {
    const o = make({ maxRows: 3 });
    o.append("telemetry", items(3));
    // Fault injection from a second connection: the bound's DELETE fails inside append's transaction.
    const db = new Database(join(dir, "outbox.db"));
    db.exec("CREATE TRIGGER no_delete BEFORE DELETE ON outbox BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
    db.close();
    const before = o.stats();
    expect(() => o.append("telemetry", items(2))).toThrow(/injected fault/);
    expect(countRows()).toBe(3);
    expect(o.stats()).toEqual(before);
    expect(o.stats().pending).toBe(countRows());
  });

  it("stats().pending always matches SELECT count(*) in the file, also after a reopen", () => {
    const o = make({ maxRows: 50, maxAgeMs: 10_000 });
    const check = () => expect(o.stats().pending).toBe(countRows());
    o.append("telemetry", items(30, T0));
    check();
    o.append("event", items(5, T0));
    check();
    o.append("telemetry", items(30, T0 + 20_000)); // exceeds maxRows
    check();
    o.ack([31, 32, 40, 41, 9999]);
    check();
    o.enforceBounds(T0 + 25_000);
    check();
    const pending = o.stats().pending;
    o.close();
    const again = make({ maxRows: 50, maxAgeMs: 10_000 });
    expect(again.stats().pending).toBe(pending);
    expect(again.stats().pending).toBe(countRows());
  });
});
