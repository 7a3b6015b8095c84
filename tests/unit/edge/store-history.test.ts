import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SqliteOutbox, type SqliteOutboxOptions } from "../../../edge/store/sqlite-outbox.js";
import type { NewRecord } from "../../../edge/store/outbox.js";

const T0 = 1_700_000_000_000;
let dir: string;
let open: SqliteOutbox[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edge-history-"));
  open = [];
});
afterEach(() => {
  for (const o of open) o.close();
  rmSync(dir, { recursive: true, force: true });
});

function make(opts: Partial<SqliteOutboxOptions> = {}): SqliteOutbox {
  const o = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 1_000_000, maxAgeMs: 0, synchronous: "normal", ...opts });
  open.push(o);
  return o;
}

/** n samples of `point`, one per second from ts. */
function samples(n: number, ts: number, point = "p1"): NewRecord[] {
  return Array.from({ length: n }, (_, i) => ({ ts: ts + i * 1000, json: JSON.stringify({ point, ts: ts + i * 1000, value: i, quality: "good" }) }));
}

function historyRowsInFile(): number {
  const db = new Database(join(dir, "edge.db"), { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM history").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe("local history", () => {
  it("keeps telemetry after the broker acknowledged it, with the seqs it was committed with", () => {
    const o = make();
    o.append("telemetry", samples(10, T0));
    o.ack(o.peek(0, 100).map((r) => r.firstSeq));
    expect(o.stats().pending).toBe(0);
    const kept = [...o.history.samples(T0, T0 + 60_000)];
    expect(kept.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(kept.map((s) => s.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(historyRowsInFile()).toBe(1);
  });

  it("does not keep events and alarms (it is the samples' history)", () => {
    const o = make();
    o.append("event", [{ ts: T0, json: '{"type":"x"}' }]);
    o.append("alarm", [{ ts: T0, json: '{"rule":"r"}' }]);
    expect(o.stats().history.rows).toBe(0);
  });

  it("selects by time and by point", () => {
    const o = make();
    o.append("telemetry", [...samples(5, T0, "a"), ...samples(5, T0, "b")]);
    o.append("telemetry", samples(5, T0 + 100_000, "a"));
    const a = [...o.history.samples(T0 + 2000, T0 + 101_000, new Set(["a"]))];
    expect(a.map((s) => [s.point, s.ts - T0])).toEqual([
      ["a", 2000],
      ["a", 3000],
      ["a", 4000],
      ["a", 100_000],
      ["a", 101_000],
    ]);
  });

  it("applies its age bound independently of the outbox, and survives a reopen", () => {
    const o = make({ history: { enabled: true, maxAgeMs: 60_000, maxBytes: 0 } });
    o.append("telemetry", samples(3, T0));
    o.append("telemetry", samples(3, T0 + 120_000));
    o.enforceBounds(T0 + 150_000); // cutoff T0 + 90 s: the first row's newest sample (T0 + 2 s) is older
    expect([...o.history.samples(0, Number.MAX_SAFE_INTEGER)].map((s) => s.ts - T0)).toEqual([120_000, 121_000, 122_000]);
    expect(o.stats().history).toEqual({ rows: 1, bytes: expect.any(Number), dropped: 1 });
    // The outbox has no age bound here: both rows are still pending.
    expect(o.stats().pending).toBe(6);
    o.close();
    const again = make({ history: { enabled: true, maxAgeMs: 60_000, maxBytes: 0 } });
    expect(again.stats().history.rows).toBe(1);
  });

  it("applies its byte bound, oldest rows first", () => {
    const o = make({ history: { enabled: true, maxAgeMs: 0, maxBytes: 3000 } });
    for (let i = 0; i < 20; i++) o.append("telemetry", samples(5, T0 + i * 10_000));
    const { bytes, rows, dropped } = o.stats().history;
    expect(bytes).toBeLessThanOrEqual(3000);
    expect(rows).toBeGreaterThan(0);
    expect(dropped).toBe(20 - rows);
    // The newest rows are the ones kept.
    const kept = [...o.history.samples(0, Number.MAX_SAFE_INTEGER)];
    expect(kept[kept.length - 1]?.seq).toBe(100);
    expect(kept[0]?.seq).toBe((20 - rows) * 5 + 1);
  });

  it("can be turned off", () => {
    const o = make({ history: { enabled: false, maxAgeMs: 0, maxBytes: 0 } });
    o.append("telemetry", samples(3, T0));
    expect(historyRowsInFile()).toBe(0);
  });

  it("is written in the outbox's transaction: a failed append leaves neither", () => {
    const o = make();
    o.append("telemetry", samples(2, T0));
    // A trigger (from a second connection) aborts the next history insert, after the outbox row went in.
    const db = new Database(join(dir, "edge.db"));
    db.exec("CREATE TRIGGER boom BEFORE INSERT ON history WHEN NEW.first_seq > 2 BEGIN SELECT RAISE(ABORT, 'injected'); END;");
    db.close();
    expect(() => o.append("telemetry", samples(2, T0 + 10_000))).toThrow(/injected/);
    expect(o.stats().pending).toBe(2);
    expect(o.peek(0, 100)).toHaveLength(1);
    expect(o.stats().history.rows).toBe(1);
    expect(o.stats().lastSeq).toBe(2);
  });
});
