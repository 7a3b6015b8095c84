import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Outbox, OutboxRecord, OutboxStats, RecordKind, SeqRange } from "./outbox.js";
import { migrate } from "./migrations.js";
import { EdgeError, errorMessage } from "../errors.js";

export interface SqliteOutboxOptions {
  path: string;
  /** Most records kept; the oldest telemetry is dropped beyond it. */
  maxRows: number;
  /** Telemetry older than this is dropped by enforceBounds(); 0 keeps it forever. */
  maxAgeMs: number;
  /**
   * SQLite `synchronous`: "full" syncs every commit (a power cut loses nothing committed); "normal" in
   * WAL mode may lose the last commits on power loss but never corrupts, and is several times faster.
   */
  synchronous: "normal" | "full";
}

/** The outbox in one SQLite file, in WAL mode so the uplink's reads never block the drivers' writes. */
export class SqliteOutbox implements Outbox {
  readonly epoch: string;
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, number, string]>;
  private readonly selectAfter: Database.Statement<[number, number], OutboxRecord>;
  private readonly deleteSeq: Database.Statement<[number]>;
  private readonly dropOldestTelemetry: Database.Statement<[number]>;
  /** Once no telemetry is left: events before alarms, oldest first. */
  private readonly dropOldestOther: Database.Statement<[number]>;
  private readonly dropOlderThan: Database.Statement<[number]>;
  private pending: number;
  private lastSeq: number;
  private sent = 0;
  private readonly dropped = { total: 0, rows: 0, age: 0 };

  constructor(private readonly options: SqliteOutboxOptions) {
    mkdirSync(dirname(options.path), { recursive: true });
    try {
      this.db = new Database(options.path);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
      this.db.pragma("busy_timeout = 5000");
      migrate(this.db);
    } catch (err) {
      throw new EdgeError("STORE_OPEN", `cannot open the store ${options.path}: ${errorMessage(err)}`, { cause: err });
    }
    this.epoch = this.loadEpoch();
    this.insert = this.db.prepare("INSERT INTO outbox (kind, ts, body) VALUES (?, ?, ?)");
    this.selectAfter = this.db.prepare("SELECT seq, kind, ts, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?");
    this.deleteSeq = this.db.prepare("DELETE FROM outbox WHERE seq = ?");
    this.dropOldestTelemetry = this.db.prepare(
      "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE kind = 'telemetry' ORDER BY seq LIMIT ?)",
    );
    this.dropOldestOther = this.db.prepare(
      "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY kind = 'alarm', seq LIMIT ?)",
    );
    this.dropOlderThan = this.db.prepare("DELETE FROM outbox WHERE kind = 'telemetry' AND ts < ?");
    this.pending = (this.db.prepare("SELECT count(*) AS n FROM outbox").get() as { n: number }).n;
    // sqlite_sequence keeps the highest seq ever used, even when the outbox is empty.
    const row = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as
      | { seq: number }
      | undefined;
    this.lastSeq = row?.seq ?? 0;
  }

  private loadEpoch(): string {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'epoch'").get() as { value: string } | undefined;
    if (row) return row.value;
    const epoch = randomBytes(8).toString("hex");
    this.db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?)").run(epoch);
    return epoch;
  }

  append(kind: RecordKind, items: ReadonlyArray<{ ts: number; body: string }>): SeqRange | null {
    if (items.length === 0) return null;
    let first = 0;
    let last = 0;
    let dropped = 0;
    this.db.transaction(() => {
      for (const item of items) {
        const seq = Number(this.insert.run(kind, item.ts, item.body).lastInsertRowid);
        if (first === 0) first = seq;
        last = seq;
      }
      const excess = this.pending + items.length - this.options.maxRows;
      if (excess > 0) {
        // In the same transaction: the outbox is never observed above its bound.
        dropped = this.dropOldestTelemetry.run(excess).changes;
        // Alarms and events are dropped last, not never: the bound holds even without telemetry.
        if (dropped < excess) dropped += this.dropOldestOther.run(excess - dropped).changes;
      }
    })();
    // Counters move only once the transaction has committed: a rolled-back append changed nothing.
    this.pending += items.length - dropped;
    this.dropped.rows += dropped;
    this.dropped.total += dropped;
    this.lastSeq = last;
    return { first, last };
  }

  peek(afterSeq: number, limit: number): OutboxRecord[] {
    return this.selectAfter.all(afterSeq, limit);
  }

  ack(seqs: readonly number[]): void {
    let removed = 0;
    this.db.transaction(() => {
      for (const seq of seqs) removed += this.deleteSeq.run(seq).changes;
    })();
    this.pending -= removed;
    this.sent += removed;
  }

  enforceBounds(now: number): void {
    if (this.options.maxAgeMs <= 0) return;
    const n = this.dropOlderThan.run(now - this.options.maxAgeMs).changes;
    this.pending -= n;
    this.dropped.age += n;
    this.dropped.total += n;
  }

  stats(): OutboxStats {
    return {
      pending: this.pending,
      sent: this.sent,
      dropped: { ...this.dropped },
      lastSeq: this.lastSeq,
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
