import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { withSeq, type NewRecord, type Outbox, type OutboxBatch, type OutboxStats, type RecordKind, type SeqRange } from "./outbox.js";
import { migrate } from "./migrations.js";
import { EdgeError, errorMessage } from "../errors.js";

export interface SqliteOutboxOptions {
  path: string;
  /** Most records kept; the oldest telemetry rows are dropped beyond it (then events, then alarms). */
  maxRows: number;
  /** Telemetry older than this is dropped by enforceBounds(); 0 keeps it forever. */
  maxAgeMs: number;
  /**
   * SQLite `synchronous`: "full" syncs every commit (a power cut loses nothing committed); "normal" in
   * WAL mode may lose the last commits on power loss but never corrupts, and is several times faster.
   */
  synchronous: "normal" | "full";
  /** Most records in one stored row (an MQTT batch carries whole rows). Default 500. */
  rowMax?: number;
}

interface RowRef {
  first_seq: number;
  count: number;
}

/** The outbox in one SQLite file, in WAL mode so the uplink's reads never block the drivers' writes. */
export class SqliteOutbox implements Outbox {
  readonly epoch: string;
  private readonly db: Database.Database;
  private readonly rowMax: number;
  private readonly insert: Database.Statement<[number, number, string, number, string]>;
  private readonly saveNextSeq: Database.Statement<[string]>;
  private readonly selectAfter: Database.Statement<[number], OutboxBatch>;
  private readonly deleteRow: Database.Statement<[number], { count: number }>;
  private readonly oldestOfKind: Database.Statement<[string, number], RowRef>;
  private readonly olderThan: Database.Statement<[number], RowRef>;
  private pending: number;
  private nextSeq: number;
  private sent = 0;
  private readonly dropped = { total: 0, rows: 0, age: 0 };

  constructor(private readonly options: SqliteOutboxOptions) {
    this.rowMax = options.rowMax ?? 500;
    mkdirSync(dirname(options.path), { recursive: true });
    let db: Database.Database | undefined;
    try {
      db = new Database(options.path);
      this.db = db;
      this.db.pragma("journal_mode = WAL");
      this.db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
      this.db.pragma("busy_timeout = 5000");
      migrate(this.db);
      this.epoch = this.meta("epoch") ?? this.initMeta("epoch", randomBytes(8).toString("hex"));
      this.nextSeq = Number(this.meta("next_seq") ?? this.initMeta("next_seq", "1"));
      this.insert = this.db.prepare("INSERT INTO outbox (first_seq, count, kind, ts, body) VALUES (?, ?, ?, ?, ?)");
      this.saveNextSeq = this.db.prepare("UPDATE meta SET value = ? WHERE key = 'next_seq'");
      this.selectAfter = this.db.prepare(
        "SELECT first_seq AS firstSeq, count, kind, body FROM outbox WHERE first_seq > ? ORDER BY first_seq",
      );
      this.deleteRow = this.db.prepare("DELETE FROM outbox WHERE first_seq = ? RETURNING count");
      this.oldestOfKind = this.db.prepare("SELECT first_seq, count FROM outbox WHERE kind = ? ORDER BY first_seq LIMIT ?");
      this.olderThan = this.db.prepare("SELECT first_seq, count FROM outbox WHERE kind = 'telemetry' AND ts < ?");
      this.pending = (this.db.prepare("SELECT coalesce(sum(count), 0) AS n FROM outbox").get() as { n: number }).n;
    } catch (err) {
      if (db?.open) db.close();
      throw new EdgeError("STORE_OPEN", `cannot open the store ${options.path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private meta(key: string): string | undefined {
    return (this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  private initMeta(key: string, value: string): string {
    this.db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)").run(key, value);
    return value;
  }

  append(kind: RecordKind, records: readonly NewRecord[]): SeqRange | null {
    if (records.length === 0) return null;
    const first = this.nextSeq;
    let dropped = 0;
    this.db.transaction(() => {
      for (let start = 0; start < records.length; start += this.rowMax) {
        const end = Math.min(records.length, start + this.rowMax);
        let body = "[";
        let newest = 0;
        for (let i = start; i < end; i++) {
          const r = records[i] as NewRecord;
          if (i > start) body += ",";
          body += withSeq(first + i, r.json);
          if (r.ts > newest) newest = r.ts;
        }
        this.insert.run(first + start, end - start, kind, newest, body + "]");
      }
      this.saveNextSeq.run(String(first + records.length));
      const excess = this.pending + records.length - this.options.maxRows;
      // In the same transaction: the outbox is never observed above its bound.
      if (excess > 0) dropped = this.dropOldest(excess);
    })();
    // Counters move only once the transaction has committed: a rolled-back append changed nothing.
    this.nextSeq = first + records.length;
    this.pending += records.length - dropped;
    this.dropped.rows += dropped;
    this.dropped.total += dropped;
    return { first, last: first + records.length - 1 };
  }

  /** Drops whole rows, oldest telemetry first, then events, then alarms, until `excess` records are gone. */
  private dropOldest(excess: number): number {
    let dropped = 0;
    for (const kind of ["telemetry", "event", "alarm"] as const) {
      for (;;) {
        const rows = this.oldestOfKind.all(kind, 64);
        for (const row of rows) {
          if (dropped >= excess) return dropped;
          dropped += this.deleteRow.get(row.first_seq)?.count ?? 0;
        }
        if (rows.length < 64) break;
      }
    }
    return dropped;
  }

  peek(afterSeq: number, maxRecords: number): OutboxBatch[] {
    const out: OutboxBatch[] = [];
    let n = 0;
    for (const row of this.selectAfter.iterate(afterSeq)) {
      // Whole rows only, never past maxRecords, except that a first row bigger than that goes alone.
      if (out.length > 0 && n + row.count > maxRecords) break;
      out.push(row);
      n += row.count;
      if (n >= maxRecords) break;
    }
    return out;
  }

  ack(firstSeqs: readonly number[]): void {
    let removed = 0;
    this.db.transaction(() => {
      for (const seq of firstSeqs) removed += this.deleteRow.get(seq)?.count ?? 0;
    })();
    this.pending -= removed;
    this.sent += removed;
  }

  enforceBounds(now: number): void {
    if (this.options.maxAgeMs <= 0) return;
    let n = 0;
    this.db.transaction(() => {
      for (const row of this.olderThan.all(now - this.options.maxAgeMs)) n += this.deleteRow.get(row.first_seq)?.count ?? 0;
    })();
    this.pending -= n;
    this.dropped.age += n;
    this.dropped.total += n;
  }

  stats(): OutboxStats {
    return {
      pending: this.pending,
      sent: this.sent,
      dropped: { ...this.dropped },
      lastSeq: this.nextSeq - 1,
      epoch: this.epoch,
    };
  }

  close(): void {
    if (!this.db.open) return;
    // Fold the WAL back into the main file so a clean stop leaves one self-contained database.
    try {
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      this.db.close();
    }
  }
}
