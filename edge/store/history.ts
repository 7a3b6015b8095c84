import type Database from "better-sqlite3";
import type { Sample } from "../model.js";

export interface HistoryOptions {
  /** Keep telemetry after delivery (rule dry runs and charts read it). */
  enabled: boolean;
  /** Rows whose newest sample is older than this are deleted; 0 = no age bound. */
  maxAgeMs: number;
  /** Bytes of history bodies kept; the oldest rows go first beyond it. 0 = bounded only by the store's maxBytes. */
  maxBytes: number;
}

export interface HistoryStats {
  rows: number;
  bytes: number;
  /** History rows deleted by its own bounds or to make room for the outbox, since start. */
  dropped: number;
}

/** A stored record as the history returns it: a Sample plus the seq it was committed with. */
export type HistorySample = Sample & { seq: number };

/**
 * The local history: telemetry rows as the outbox stores them (one row per committed batch, JSON body),
 * written in the outbox's transaction and kept after the broker acknowledged them. Reading by time
 * selects rows by their ts range and filters inside; rows are in commit order, which is time order
 * up to the commit window (tens of ms).
 */
export class HistoryTable {
  private readonly insert: Database.Statement<[number, number, number, number, number, string]>;
  private readonly oldest: Database.Statement<[number], { first_seq: number; bytes: number }>;
  private readonly deleteRow: Database.Statement<[number], { bytes: number }>;
  private readonly expired: Database.Statement<[number], { first_seq: number; bytes: number }>;
  private readonly range: Database.Statement<[number, number], { body: string }>;
  private rows: number;
  private bytes: number;
  /** Changes made inside the open transaction; folded into the totals by commit(). */
  private pendingRows = 0;
  private pendingBytes = 0;
  private dropped = 0;

  constructor(
    db: Database.Database,
    private readonly options: HistoryOptions,
  ) {
    this.insert = db.prepare("INSERT INTO history (first_seq, count, ts_min, ts_max, bytes, body) VALUES (?, ?, ?, ?, ?, ?)");
    this.oldest = db.prepare("SELECT first_seq, bytes FROM history ORDER BY first_seq LIMIT ?");
    this.deleteRow = db.prepare("DELETE FROM history WHERE first_seq = ? RETURNING bytes");
    this.expired = db.prepare("SELECT first_seq, bytes FROM history WHERE ts_max < ?");
    this.range = db.prepare("SELECT body FROM history WHERE ts_max >= ? AND ts_min <= ? ORDER BY first_seq");
    const totals = db.prepare("SELECT count(*) AS rows, coalesce(sum(bytes), 0) AS bytes FROM history").get() as { rows: number; bytes: number };
    this.rows = totals.rows;
    this.bytes = totals.bytes;
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** Inside the outbox's transaction: adds one stored row, then applies the byte bound. */
  add(firstSeq: number, count: number, tsMin: number, tsMax: number, body: string): void {
    if (!this.options.enabled) return;
    this.insert.run(firstSeq, count, tsMin, tsMax, body.length, body);
    this.pendingRows++;
    this.pendingBytes += body.length;
    if (this.options.maxBytes > 0) this.dropOldestWhile(() => this.bytes + this.pendingBytes > this.options.maxBytes);
  }

  /** Inside a transaction: deletes the oldest rows while `more()` says so (or the table is empty). */
  dropOldestWhile(more: () => boolean): void {
    while (more()) {
      const rows = this.oldest.all(16);
      if (rows.length === 0) return;
      for (const row of rows) {
        this.remove(row.first_seq);
        if (!more()) return;
      }
    }
  }

  /** Inside a transaction: applies the age bound. */
  enforceBounds(now: number): void {
    if (this.options.maxAgeMs <= 0) return;
    for (const row of this.expired.all(now - this.options.maxAgeMs)) this.remove(row.first_seq);
  }

  private remove(firstSeq: number): void {
    const gone = this.deleteRow.get(firstSeq);
    if (!gone) return;
    this.pendingRows--;
    this.pendingBytes -= gone.bytes;
    this.dropped++;
  }

  /** After the transaction committed: the totals take its changes (a rolled-back one is forgotten). */
  commit(): void {
    this.rows += this.pendingRows;
    this.bytes += this.pendingBytes;
    this.pendingRows = 0;
    this.pendingBytes = 0;
  }

  /** Forgets changes of a transaction that rolled back. */
  rollback(): void {
    this.pendingRows = 0;
    this.pendingBytes = 0;
  }

  /** Stored samples with from <= ts <= to, in commit order; `points` narrows to those point ids. */
  *samples(from: number, to: number, points?: ReadonlySet<string>): Generator<HistorySample> {
    for (const row of this.range.iterate(from, to)) {
      for (const s of JSON.parse(row.body) as HistorySample[]) {
        if (s.ts < from || s.ts > to) continue;
        if (points && !points.has(s.point)) continue;
        yield s;
      }
    }
  }

  stats(): HistoryStats {
    return { rows: this.rows, bytes: this.bytes, dropped: this.dropped };
  }
}
