import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SqliteOutbox, type SqliteOutboxOptions } from "../../../edge/store/sqlite-outbox.js";
import { withSeq, type NewRecord, type OutboxBatch, type RecordKind } from "../../../edge/store/outbox.js";
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

function recs(n: number, ts = T0, tag = "x"): NewRecord[] {
  return Array.from({ length: n }, (_, i) => ({ ts: ts + i, json: JSON.stringify({ tag, i }) }));
}

/** Runs a read-only query straight on the file, bypassing the class. */
function query<T>(sql: string, file = "outbox.db"): T {
  const db = new Database(join(dir, file), { readonly: true });
  try {
    return db.prepare(sql).get() as T;
  } finally {
    db.close();
  }
}

/** Stored rows, counted straight from the file. */
function countRows(file = "outbox.db", where = "1"): number {
  return query<{ n: number }>(`SELECT count(*) AS n FROM outbox WHERE ${where}`, file).n;
}

/** Stored records (the sum of the rows' counts), straight from the file. */
function countRecords(file = "outbox.db", where = "1"): number {
  return query<{ n: number }>(`SELECT coalesce(sum(count), 0) AS n FROM outbox WHERE ${where}`, file).n;
}

function metaNextSeq(file = "outbox.db"): string | undefined {
  return query<{ value: string } | undefined>("SELECT value FROM meta WHERE key = 'next_seq'", file)?.value;
}

/** The records of a row, parsed; checks that the body's seqs are exactly firstSeq .. firstSeq + count - 1. */
function recordsOf(row: OutboxBatch): Array<Record<string, unknown> & { seq: number }> {
  const parsed = JSON.parse(row.body) as Array<Record<string, unknown> & { seq: number }>;
  expect(parsed).toHaveLength(row.count);
  expect(parsed.map((r) => r.seq)).toEqual(Array.from({ length: row.count }, (_, i) => row.firstSeq + i));
  return parsed;
}

/** Every pending seq, oldest first, read from the row bodies. */
const seqsOf = (o: SqliteOutbox): number[] => o.peek(0, 1_000_000).flatMap((r) => recordsOf(r).map((x) => x.seq));

/** [firstSeq, count, kind] of every pending row. */
const rowsOf = (o: SqliteOutbox): Array<[number, number, RecordKind]> =>
  o.peek(0, 1_000_000).map((r) => [r.firstSeq, r.count, r.kind]);

describe("withSeq", () => {
  it("puts seq first in a record's JSON object text", () => {
    expect(withSeq(5, '{"a":1,"b":"x"}')).toBe('{"seq":5,"a":1,"b":"x"}');
    expect(JSON.parse(withSeq(7, JSON.stringify({ point: "p", value: null })))).toEqual({ seq: 7, point: "p", value: null });
  });

  it("gives valid JSON for the empty object", () => {
    expect(withSeq(5, "{}")).toBe('{"seq":5}');
    expect(JSON.parse(withSeq(12, "{}"))).toEqual({ seq: 12 });
  });

  it("an append of empty objects stores a valid JSON array of seqs", () => {
    const o = make();
    o.append("event", [
      { ts: T0, json: "{}" },
      { ts: T0, json: "{}" },
    ]);
    const [row] = o.peek(0, 10);
    expect(row?.body).toBe('[{"seq":1},{"seq":2}]');
    expect(JSON.parse(row!.body)).toEqual([{ seq: 1 }, { seq: 2 }]);
  });
});

describe("SqliteOutbox", () => {
  it("starts empty with lastSeq 0 and a hex epoch", () => {
    const o = make();
    expect(o.stats()).toMatchObject({
      pending: 0,
      sent: 0,
      dropped: { total: 0, rows: 0, age: 0, bytes: 0 },
      lastSeq: 0,
      epoch: o.epoch,
      maxBytes: 0,
      history: { rows: 0, bytes: 0, dropped: 0 },
    });
    expect(o.epoch).toMatch(/^[0-9a-f]{16}$/);
    expect(o.peek(0, 10)).toEqual([]);
    expect(metaNextSeq()).toBe("1");
  });

  it("assigns contiguous seqs from 1, returns the range, and stores one row per append", () => {
    const o = make();
    expect(o.append("telemetry", recs(3))).toEqual({ first: 1, last: 3 });
    expect(o.append("event", recs(1))).toEqual({ first: 4, last: 4 });
    expect(o.append("telemetry", recs(2))).toEqual({ first: 5, last: 6 });
    expect(rowsOf(o)).toEqual([
      [1, 3, "telemetry"],
      [4, 1, "event"],
      [5, 2, "telemetry"],
    ]);
    expect(seqsOf(o)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(o.stats().lastSeq).toBe(6);
    expect(o.stats().pending).toBe(6);
    expect(countRows()).toBe(3);
    expect(countRecords()).toBe(6);
    expect(metaNextSeq()).toBe("7");
  });

  it("an empty append stores nothing, returns null and assigns no seq", () => {
    const o = make();
    expect(o.append("telemetry", [])).toBeNull();
    expect(o.stats().pending).toBe(0);
    expect(o.stats().lastSeq).toBe(0);
    expect(countRows()).toBe(0);
    expect(metaNextSeq()).toBe("1");
    expect(o.append("telemetry", recs(1))).toEqual({ first: 1, last: 1 });
  });

  it("stores each record with its seq first, in order, and the row's ts is its newest record's", () => {
    const o = make();
    o.append("telemetry", [
      { ts: T0 + 5, json: '{"n":"a"}' },
      { ts: T0 + 9, json: '{"n":"b"}' },
      { ts: T0 + 2, json: '{"n":"c"}' },
    ]);
    expect(o.peek(0, 10)).toEqual([
      { firstSeq: 1, count: 3, kind: "telemetry", body: '[{"seq":1,"n":"a"},{"seq":2,"n":"b"},{"seq":3,"n":"c"}]' },
    ]);
    expect(query<{ ts: number }>("SELECT ts FROM outbox WHERE first_seq = 1").ts).toBe(T0 + 9);
  });

  it("splits a big append into rows of rowMax (default 500) with contiguous seqs, in one transaction", () => {
    const o = make();
    expect(o.append("telemetry", recs(1234))).toEqual({ first: 1, last: 1234 });
    const rows = o.peek(0, 1_000_000);
    expect(rows.map((r) => [r.firstSeq, r.count])).toEqual([
      [1, 500],
      [501, 500],
      [1001, 234],
    ]);
    const all = rows.flatMap(recordsOf);
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 1234 }, (_, i) => i + 1));
    // the records keep their order: seq n is record n - 1 of the append
    expect(all.map((r) => r.i)).toEqual(Array.from({ length: 1234 }, (_, i) => i));
    expect(countRows()).toBe(3);
    expect(countRecords()).toBe(1234);
    expect(o.stats()).toMatchObject({ pending: 1234, lastSeq: 1234 });
    expect(metaNextSeq()).toBe("1235");
    // the next append continues right after, in a row of its own
    expect(o.append("event", recs(2))).toEqual({ first: 1235, last: 1236 });
    expect(rowsOf(o).at(-1)).toEqual([1235, 2, "event"]);
  });

  it("honours a custom rowMax, including an exact multiple", () => {
    const o = make({ rowMax: 3 });
    o.append("telemetry", recs(7));
    o.append("alarm", recs(6));
    o.append("event", recs(1));
    expect(rowsOf(o)).toEqual([
      [1, 3, "telemetry"],
      [4, 3, "telemetry"],
      [7, 1, "telemetry"],
      [8, 3, "alarm"],
      [11, 3, "alarm"],
      [14, 1, "event"],
    ]);
    expect(seqsOf(o)).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
    expect(countRows()).toBe(6);
    expect(countRecords()).toBe(14);
  });

  it("a multi-row append is all or nothing: a failing row rolls back the rows before it and burns no seq", () => {
    const o = make({ rowMax: 10 });
    o.append("telemetry", recs(2)); // 1, 2
    const db = new Database(join(dir, "outbox.db"));
    // the third row of the next append (first_seq 23) fails
    db.exec("CREATE TRIGGER no_third BEFORE INSERT ON outbox WHEN NEW.first_seq > 20 BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
    db.close();
    const before = o.stats();
    expect(() => o.append("telemetry", recs(25))).toThrow(/injected fault/);
    expect(countRows()).toBe(1);
    expect(countRecords()).toBe(2);
    expect(metaNextSeq()).toBe("3");
    expect(o.stats()).toEqual(before);
    // a smaller append that needs no third row then gets the very next seqs
    expect(o.append("telemetry", recs(15))).toEqual({ first: 3, last: 17 });
    expect(rowsOf(o)).toEqual([
      [1, 2, "telemetry"],
      [3, 10, "telemetry"],
      [13, 5, "telemetry"],
    ]);
  });

  describe("peek", () => {
    it("returns whole rows oldest first with firstSeq > afterSeq, and does not consume", () => {
      const o = make();
      o.append("telemetry", recs(5, T0, "a")); // row 1..5
      o.append("alarm", [{ ts: T0 + 100, json: '{"alarm":"hot"}' }]); // row 6
      const telemetry: OutboxBatch = {
        firstSeq: 1,
        count: 5,
        kind: "telemetry",
        body:
          '[{"seq":1,"tag":"a","i":0},{"seq":2,"tag":"a","i":1},{"seq":3,"tag":"a","i":2},' +
          '{"seq":4,"tag":"a","i":3},{"seq":5,"tag":"a","i":4}]',
      };
      const alarm: OutboxBatch = { firstSeq: 6, count: 1, kind: "alarm", body: '[{"seq":6,"alarm":"hot"}]' };
      // a row is never split: asking for 2 records gives the whole row of 5
      expect(o.peek(0, 2)).toEqual([telemetry]);
      expect(o.peek(0, 5)).toEqual([telemetry]);
      expect(o.peek(0, 6)).toEqual([telemetry, alarm]);
      expect(o.peek(0, 100)).toEqual([telemetry, alarm]);
      // rows are selected by firstSeq: an afterSeq inside a row skips that row
      expect(o.peek(1, 100)).toEqual([alarm]);
      expect(o.peek(5, 100)).toEqual([alarm]);
      expect(o.peek(6, 100)).toEqual([]);
      // peek does not consume
      expect(o.stats().pending).toBe(6);
      expect(countRecords()).toBe(6);
      expect(o.peek(0, 100)).toHaveLength(2);
    });

    it("returns at most maxRecords records in whole rows, counting records, not rows", () => {
      const o = make({ rowMax: 4 });
      o.append("telemetry", recs(12)); // rows 1..4, 5..8, 9..12
      o.append("event", recs(1)); // row 13
      const firsts = (after: number, max: number) => o.peek(after, max).map((r) => r.firstSeq);
      expect(firsts(0, 4)).toEqual([1]);
      expect(firsts(0, 5)).toEqual([1]); // the next row would make 8
      expect(firsts(0, 7)).toEqual([1]);
      expect(firsts(0, 8)).toEqual([1, 5]);
      expect(firsts(0, 9)).toEqual([1, 5]);
      expect(firsts(0, 12)).toEqual([1, 5, 9]);
      expect(firsts(0, 13)).toEqual([1, 5, 9, 13]);
      expect(firsts(0, 1000)).toEqual([1, 5, 9, 13]);
      expect(firsts(4, 4)).toEqual([5]);
      expect(firsts(8, 4)).toEqual([9]);
      expect(firsts(8, 5)).toEqual([9, 13]);
      // it stops at the first row that does not fit: a smaller row after it is not taken out of order
      expect(firsts(4, 6)).toEqual([5]);
      for (const max of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]) {
        const n = o.peek(0, max).reduce((sum, r) => sum + r.count, 0);
        expect(n, `maxRecords ${max}`).toBeLessThanOrEqual(Math.max(max, 4));
      }
    });

    it("a first row bigger than maxRecords goes alone, whole", () => {
      const o = make({ rowMax: 4 });
      o.append("telemetry", recs(4)); // row 1..4
      o.append("telemetry", recs(1)); // row 5
      expect(o.peek(0, 1).map((r) => [r.firstSeq, r.count])).toEqual([[1, 4]]);
      expect(o.peek(0, 3).map((r) => [r.firstSeq, r.count])).toEqual([[1, 4]]);
      expect(o.peek(4, 1).map((r) => [r.firstSeq, r.count])).toEqual([[5, 1]]);
    });

    it("with one-record rows, returns exactly maxRecords rows", () => {
      const o = make();
      for (let i = 0; i < 6; i++) o.append("telemetry", recs(1, T0 + i));
      expect(o.peek(0, 4).map((r) => r.firstSeq)).toEqual([1, 2, 3, 4]);
      expect(o.peek(2, 2).map((r) => r.firstSeq)).toEqual([3, 4]);
    });
  });

  describe("ack", () => {
    it("deletes rows by firstSeq, counts their records as sent, and is idempotent", () => {
      const o = make();
      o.append("telemetry", recs(2)); // row 1..2
      o.append("telemetry", recs(3)); // row 3..5
      o.append("event", recs(1)); // row 6
      o.ack([3]);
      expect(rowsOf(o)).toEqual([
        [1, 2, "telemetry"],
        [6, 1, "event"],
      ]);
      expect(o.stats().pending).toBe(3);
      expect(o.stats().sent).toBe(3);
      o.ack([3]); // the same ack again
      o.ack([999, -1]); // seqs that never existed
      o.ack([2]); // a seq inside a row that is not its firstSeq: not a row, ignored
      o.ack([]);
      expect(seqsOf(o)).toEqual([1, 2, 6]);
      expect(o.stats().pending).toBe(3);
      expect(o.stats().sent).toBe(3);
      o.ack([1, 1, 6]); // duplicate inside one ack
      expect(seqsOf(o)).toEqual([]);
      expect(o.stats().sent).toBe(6);
      expect(o.stats().pending).toBe(0);
      expect(countRows()).toBe(0);
      expect(o.stats().pending).toBe(countRecords());
    });

    it("acks several rows of a big append at once", () => {
      const o = make({ rowMax: 100 });
      o.append("telemetry", recs(250)); // rows 1, 101, 201
      o.ack([1, 201]);
      expect(rowsOf(o)).toEqual([[101, 100, "telemetry"]]);
      expect(o.stats()).toMatchObject({ pending: 100, sent: 150 });
      expect(countRecords()).toBe(100);
    });
  });

  it("never reuses a seq after draining to empty", () => {
    const o = make();
    o.append("telemetry", recs(4));
    o.ack([1]);
    expect(o.stats().pending).toBe(0);
    expect(countRows()).toBe(0);
    expect(o.append("telemetry", recs(2))).toEqual({ first: 5, last: 6 });
    expect(seqsOf(o)).toEqual([5, 6]);
  });

  it("never reuses a seq after close and reopen (next_seq lives in meta), and keeps the epoch", () => {
    const a = make();
    a.append("telemetry", recs(3));
    a.ack([1]); // drained before the restart: no row is left to say where the seqs were
    const epoch = a.epoch;
    a.close();
    expect(countRows()).toBe(0);
    expect(metaNextSeq()).toBe("4");
    const b = make();
    expect(b.epoch).toBe(epoch);
    expect(b.stats().lastSeq).toBe(3);
    expect(b.stats().pending).toBe(0);
    expect(b.append("telemetry", recs(1))).toEqual({ first: 4, last: 4 });
    b.close();
    const c = make();
    expect(c.epoch).toBe(epoch);
    expect(c.stats().pending).toBe(1);
    expect(c.stats().lastSeq).toBe(4);
    expect(seqsOf(c)).toEqual([4]);
    expect(c.append("event", recs(2))).toEqual({ first: 5, last: 6 });
  });

  it("next_seq survives a reopen after the bound dropped the newest rows", () => {
    const a = make({ maxRows: 2 });
    a.append("alarm", recs(2)); // 1..2
    a.append("telemetry", recs(3)); // 3..5: over the bound, this very row is dropped
    expect(a.stats()).toMatchObject({ pending: 2, lastSeq: 5 });
    a.close();
    const b = make({ maxRows: 2 });
    expect(b.stats().lastSeq).toBe(5);
    expect(b.stats().pending).toBe(2);
    expect(b.append("alarm", recs(1))).toEqual({ first: 6, last: 6 });
  });

  it("close is idempotent and leaves no WAL behind", () => {
    const o = make();
    o.append("telemetry", recs(10));
    o.close();
    expect(() => o.close()).not.toThrow();
    expect(existsSync(join(dir, "outbox.db-wal"))).toBe(false);
    expect(countRows()).toBe(1);
    expect(countRecords()).toBe(10);
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
    expect(again.append("telemetry", recs(1))).toEqual({ first: 1, last: 1 });
  });

  it("uses WAL journal mode", () => {
    make({ synchronous: "full" }).append("telemetry", recs(1));
    const db = new Database(join(dir, "outbox.db"), { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      db.close();
    }
  });

  it("creates missing parent directories", () => {
    const o = make({}, join("deep", "er", "outbox.db"));
    o.append("telemetry", recs(1));
    expect(countRecords(join("deep", "er", "outbox.db"))).toBe(1);
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

  it("reports a database of the previous one-row-per-record schema as EdgeError STORE_OPEN", () => {
    // The layout the first migration used to create (seq AUTOINCREMENT, one row per record), at user_version 1.
    const db = new Database(join(dir, "old.db"));
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE outbox (
        seq  INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('telemetry', 'event', 'alarm')),
        ts   INTEGER NOT NULL,
        body TEXT NOT NULL
      ) STRICT;
      INSERT INTO meta (key, value) VALUES ('epoch', '0123456789abcdef');
      INSERT INTO outbox (kind, ts, body) VALUES ('telemetry', ${T0}, '{"point":"p"}');
    `);
    db.pragma("user_version = 1");
    db.close();
    let caught: unknown;
    try {
      make({}, "old.db");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(EdgeError);
    expect((caught as EdgeError).code).toBe("STORE_OPEN");
    expect((caught as EdgeError).message).toContain("old.db");
  });

  describe("record bound (maxRows)", () => {
    it("drops the oldest telemetry rows first, keeps events and alarms, and counts dropped.rows", () => {
      const o = make({ maxRows: 5 });
      o.append("telemetry", recs(2, T0, "t-old")); // row 1..2
      o.append("alarm", [{ ts: T0, json: '{"a":1}' }]); // 3
      o.append("event", [{ ts: T0, json: '{"e":1}' }]); // 4
      o.append("telemetry", recs(1, T0, "t-mid")); // 5 -> at the bound, nothing dropped
      expect(o.stats().dropped.rows).toBe(0);
      o.append("telemetry", recs(3, T0, "t-new")); // row 6..8 -> 3 over: rows 1..2 and 5 go
      expect(rowsOf(o)).toEqual([
        [3, 1, "alarm"],
        [4, 1, "event"],
        [6, 3, "telemetry"],
      ]);
      expect(o.stats().dropped).toEqual({ total: 3, rows: 3, age: 0, bytes: 0 });
      expect(o.stats().pending).toBe(5);
      expect(countRecords()).toBe(5);
      expect(o.stats().lastSeq).toBe(8);
    });

    it("drops telemetry of the batch being appended before any older alarm or event", () => {
      const o = make({ maxRows: 3, rowMax: 1 });
      o.append("alarm", recs(1)); // 1
      o.append("event", recs(1)); // 2
      o.append("telemetry", recs(4)); // rows 3, 4, 5, 6: 3 over the bound -> the 3 oldest telemetry rows go
      expect(rowsOf(o)).toEqual([
        [1, 1, "alarm"],
        [2, 1, "event"],
        [6, 1, "telemetry"],
      ]);
      expect(o.stats().dropped.rows).toBe(3);
      expect(o.stats().pending).toBe(countRecords());
    });

    it("drops whole rows: a row is never cut, so more than the excess can go", () => {
      const o = make({ maxRows: 3 });
      o.append("alarm", recs(1)); // 1
      o.append("event", recs(1)); // 2
      o.append("telemetry", recs(4)); // row 3..6, 3 over the bound: the whole row (4 records) goes
      expect(rowsOf(o)).toEqual([
        [1, 1, "alarm"],
        [2, 1, "event"],
      ]);
      expect(o.stats().dropped).toEqual({ total: 4, rows: 4, age: 0, bytes: 0 });
      expect(o.stats().pending).toBe(2);
      expect(countRecords()).toBe(2);
      expect(o.stats().lastSeq).toBe(6);
    });

    it("counts exactly the records of the rows dropped, oldest telemetry first, across several appends", () => {
      const o = make({ maxRows: 25, rowMax: 10 });
      o.append("telemetry", recs(10)); // row 1..10
      o.append("telemetry", recs(10)); // row 11..20
      o.append("event", recs(3)); // row 21..23 -> 23 pending
      o.append("telemetry", recs(5)); // row 24..28 -> 28, 3 over: row 1..10 (10) goes
      expect(o.stats().dropped.rows).toBe(10);
      expect(o.stats().pending).toBe(18);
      o.append("alarm", recs(12)); // rows 29..38, 39..40 -> 30, 5 over: row 11..20 (10) goes
      expect(o.stats().dropped.rows).toBe(20);
      expect(o.stats().pending).toBe(20);
      o.append("telemetry", recs(30)); // rows 41, 51, 61 -> 50, 25 over: rows 24..28, 41..50, 51..60 (25) go
      expect(o.stats().dropped).toEqual({ total: 45, rows: 45, age: 0, bytes: 0 });
      expect(o.stats().pending).toBe(25);
      expect(rowsOf(o)).toEqual([
        [21, 3, "event"],
        [29, 10, "alarm"],
        [39, 2, "alarm"],
        [61, 10, "telemetry"],
      ]);
      expect(countRecords()).toBe(25);
      expect(countRows()).toBe(4);
      expect(o.stats().lastSeq).toBe(70);
    });

    it("drops many rows in one append (more than one batch of candidates)", () => {
      const o = make({ maxRows: 200, rowMax: 1 });
      o.append("telemetry", recs(150)); // 150 one-record rows
      o.append("alarm", recs(130)); // 280 pending, 80 over: telemetry 1..80 go
      expect(o.stats().dropped.rows).toBe(80);
      expect(o.stats().pending).toBe(200);
      expect(countRecords()).toBe(200);
      expect(countRecords("outbox.db", "kind = 'telemetry'")).toBe(70);
      expect(query<{ m: number }>("SELECT min(first_seq) AS m FROM outbox").m).toBe(81);
      expect(countRecords("outbox.db", "kind = 'alarm'")).toBe(130);
    });

    it("stays bounded even when only alarms and events are stored (they are dropped last, not never)", () => {
      const o = make({ maxRows: 3 });
      const kinds: RecordKind[] = ["event", "alarm", "event", "alarm", "event"];
      for (const kind of kinds) o.append(kind, recs(1));
      expect(o.stats().pending).toBe(3);
      expect(countRecords()).toBe(o.stats().pending);
      expect(o.stats().dropped.rows).toBe(2);
      expect(o.stats().dropped.total).toBe(2);
      // the oldest events went first (1, then 3); the alarms and the newest event are kept
      expect(seqsOf(o)).toEqual([2, 4, 5]);
    });

    it("drops events before alarms once telemetry is gone", () => {
      const o = make({ maxRows: 2 });
      o.append("alarm", recs(1)); // 1
      o.append("event", recs(1)); // 2
      o.append("telemetry", recs(1)); // 3 -> over: telemetry 3 goes
      expect(seqsOf(o)).toEqual([1, 2]);
      o.append("event", recs(1)); // 4 -> over, no telemetry: oldest event (2) goes
      expect(rowsOf(o)).toEqual([
        [1, 1, "alarm"],
        [4, 1, "event"],
      ]);
      expect(o.stats().dropped.rows).toBe(2);
    });
  });

  describe("age bound", () => {
    it("enforceBounds drops telemetry rows older than maxAgeMs only, and counts dropped.age", () => {
      const o = make({ maxAgeMs: 60_000 });
      o.append("telemetry", [{ ts: T0, json: '{"n":1}' }]); // 1
      o.append("telemetry", [{ ts: T0 + 30_000, json: '{"n":2}' }]); // 2
      o.append("telemetry", [{ ts: T0 + 90_000, json: '{"n":3}' }]); // 3
      o.append("alarm", [{ ts: T0, json: '{"old":"alarm"}' }]); // 4
      o.append("event", [{ ts: T0, json: '{"old":"event"}' }]); // 5
      const now = T0 + 120_000; // cutoff T0 + 60_000
      o.enforceBounds(now);
      expect(rowsOf(o)).toEqual([
        [3, 1, "telemetry"],
        [4, 1, "alarm"],
        [5, 1, "event"],
      ]);
      expect(o.stats().dropped).toEqual({ total: 2, rows: 0, age: 2, bytes: 0 });
      expect(o.stats().pending).toBe(3);
      expect(countRecords()).toBe(3);
      // again at the same time: nothing more to drop
      o.enforceBounds(now);
      expect(o.stats().dropped.age).toBe(2);
    });

    it("drops a row only once its newest record is old, and then counts all its records", () => {
      const o = make({ maxAgeMs: 60_000 });
      o.append("telemetry", [
        { ts: T0, json: '{"n":1}' },
        { ts: T0 + 90_000, json: '{"n":2}' }, // the newest, not last
        { ts: T0 + 30_000, json: '{"n":3}' },
      ]);
      o.append("telemetry", recs(4, T0)); // row 4..7, newest T0 + 3
      o.enforceBounds(T0 + 120_000); // cutoff T0 + 60_000: the first row has a young record, so it stays whole
      expect(rowsOf(o)).toEqual([[1, 3, "telemetry"]]);
      expect(o.stats().dropped).toEqual({ total: 4, rows: 0, age: 4, bytes: 0 });
      o.enforceBounds(T0 + 150_001); // now even its newest is older than the cutoff
      expect(o.peek(0, 10)).toEqual([]);
      expect(o.stats().dropped).toEqual({ total: 7, rows: 0, age: 7, bytes: 0 });
      expect(o.stats().pending).toBe(0);
      expect(countRows()).toBe(0);
    });

    it("a record exactly maxAgeMs old is kept", () => {
      const o = make({ maxAgeMs: 1000 });
      o.append("telemetry", [{ ts: T0, json: "{}" }]);
      o.enforceBounds(T0 + 1000);
      expect(o.stats().pending).toBe(1);
      o.enforceBounds(T0 + 1001);
      expect(o.stats().pending).toBe(0);
      expect(countRows()).toBe(0);
    });

    it("maxAgeMs 0 keeps telemetry forever", () => {
      const o = make({ maxAgeMs: 0 });
      o.append("telemetry", [{ ts: 0, json: "{}" }]);
      o.enforceBounds(T0 * 10);
      expect(o.stats().pending).toBe(1);
      expect(o.stats().dropped.total).toBe(0);
      expect(countRows()).toBe(1);
    });
  });

  it("a failed append stores nothing and leaves the counters and next_seq as they were", () => {
    const o = make({ maxRows: 3 });
    o.append("telemetry", recs(3));
    // Fault injection from a second connection: the bound's DELETE fails inside append's transaction.
    const db = new Database(join(dir, "outbox.db"));
    db.exec("CREATE TRIGGER no_delete BEFORE DELETE ON outbox BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
    db.close();
    const before = o.stats();
    expect(() => o.append("telemetry", recs(2))).toThrow(/injected fault/);
    expect(countRows()).toBe(1);
    expect(countRecords()).toBe(3);
    expect(metaNextSeq()).toBe("4");
    expect(o.stats()).toEqual(before);
    expect(o.stats().pending).toBe(countRecords());
  });

  it("stats().pending always matches SELECT sum(count) in the file, also after a reopen", () => {
    const opts = { maxRows: 50, maxAgeMs: 10_000, rowMax: 7 };
    const o = make(opts);
    const check = () => expect(o.stats().pending).toBe(countRecords());
    o.append("telemetry", recs(30, T0)); // rows 1, 8, 15, 22, 29 (29..30)
    check();
    o.append("event", recs(5, T0)); // row 31..35
    check();
    o.append("telemetry", recs(30, T0 + 20_000)); // rows 36, 43, 50, 57, 64: exceeds maxRows
    check();
    expect(o.stats().pending).toBeLessThanOrEqual(50);
    o.ack([31, 43, 44, 9999]);
    check();
    o.enforceBounds(T0 + 25_000);
    check();
    const pending = o.stats().pending;
    expect(pending).toBeGreaterThan(0);
    o.close();
    const again = make(opts);
    expect(again.stats().pending).toBe(pending);
    expect(again.stats().pending).toBe(countRecords());
  });

  describe("seqs across a power cut (synchronous normal)", () => {
    function setMeta(values: Record<string, string>): void {
      const db = new Database(join(dir, "outbox.db"));
      for (const [k, v] of Object.entries(values)) db.prepare("UPDATE meta SET value = ? WHERE key = ?").run(v, k);
      db.close();
    }
    const metaValue = (key: string) => query<{ value: string }>(`SELECT value FROM meta WHERE key = '${key}'`).value;

    it("reserves seqs ahead durably, and a clean stop hands the unused reservation back", () => {
      const o = make({ synchronous: "normal" });
      o.append("telemetry", recs(10));
      expect(Number(metaValue("seq_reserved"))).toBeGreaterThan(10);
      o.close();
      expect(metaValue("seq_reserved")).toBe("11");
      const again = make({ synchronous: "normal" });
      expect(again.skippedSeqs).toBeNull();
      expect(again.append("telemetry", recs(1))).toEqual({ first: 11, last: 11 });
    });

    it("after another boot with commits lost (counter behind its reservation), continues past the reservation: no seq twice", () => {
      const o = make({ synchronous: "normal" });
      o.append("telemetry", recs(10));
      const reserved = Number(metaValue("seq_reserved"));
      o.close();
      // What a power cut can leave: the counter's last commits gone, the fsynced reservation kept, and
      // the machine booted again.
      setMeta({ next_seq: "4", seq_reserved: String(reserved), boot_id: "a-previous-boot" });
      const after = make({ synchronous: "normal" });
      expect(after.skippedSeqs).toEqual({ from: 4, to: reserved - 1 });
      expect(after.append("telemetry", recs(1))).toEqual({ first: reserved, last: reserved });
    });

    it("in the same boot (the agent was killed, the machine was not) the counter is trusted: no gap", () => {
      const o = make({ synchronous: "normal" });
      o.append("telemetry", recs(10));
      const reserved = Number(metaValue("seq_reserved"));
      o.close();
      setMeta({ seq_reserved: String(reserved) }); // as a kill -9 leaves it: reservation ahead, same boot
      const after = make({ synchronous: "normal" });
      expect(after.skippedSeqs).toBeNull();
      expect(after.append("telemetry", recs(1))).toEqual({ first: 11, last: 11 });
    });
  });
});

