import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { DROP_ORDER, withSeq, type NewRecord, type Outbox, type OutboxBatch, type OutboxStats, type RecordKind, type SeqRange } from "./outbox.js";
import { migrate } from "./migrations.js";
import { StoreSpace } from "./space.js";
import { HistoryTable, type HistoryOptions } from "./history.js";
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
  /**
   * Bytes the database file may use, outbox and history together; 0 = no bound. Near the bound the
   * oldest history goes first (it was already delivered), then the oldest telemetry, events, alarms.
   */
  maxBytes?: number;
  /** The local history kept after delivery (default: on, 7 days, no byte bound of its own). */
  history?: HistoryOptions;
}

/**
 * Seqs are reserved in blocks of this many with a durable (fsynced) write, so that a power cut, which
 * may lose the last commits of a `synchronous: normal` store, can never make a seq be handed out twice.
 */
const SEQ_BLOCK = 100_000;

/**
 * SQLite's page cache, in KiB. better-sqlite3 builds SQLite with a 16 MB default, which a busy outbox
 * fills and keeps resident for good; its working set is only the last pages of the outbox and history
 * B-trees (rows go in at the end and are deleted once acknowledged), and older pages come back from
 * the OS page cache when a dry run or chart reads history.
 */
const PAGE_CACHE_KIB = 2048;

/** Changes with every boot of the machine: a store reopened in the same boot lost nothing to a power cut. */
function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
}

interface RowRef {
  first_seq: number;
  count: number;
}

/** Drops by reason since this process started; `bytes` = the disk bound, `rows` = maxRows, `age` = maxAge. */
type DropCounters = OutboxStats["dropped"];

/**
 * The store in one SQLite file, in WAL mode so the uplink's reads never block the drivers' writes:
 * the outbox (records until the broker acknowledged them) and, written in the same transaction, the
 * local history (kept after delivery for dry runs and charts).
 */
export class SqliteOutbox implements Outbox {
  readonly epoch: string;
  readonly history: HistoryTable;
  private readonly db: Database.Database;
  private readonly rowMax: number;
  private readonly space: StoreSpace;
  private readonly insert: Database.Statement<[number, number, string, number, string]>;
  private readonly saveNextSeq: Database.Statement<[string]>;
  private readonly selectAfter: Database.Statement<[number], OutboxBatch>;
  private readonly selectPriorityAfter: Database.Statement<[number], OutboxBatch>;
  private readonly selectTelemetryAfter: Database.Statement<[number], OutboxBatch>;
  private readonly deleteRow: Database.Statement<[number], { count: number }>;
  private readonly oldestOfKind: Database.Statement<[string, number], RowRef>;
  private readonly olderThan: Database.Statement<[number], RowRef>;
  private pending: number;
  private nextSeq: number;
  /** Seqs below this are durably reserved (see SEQ_BLOCK). */
  private reserved: number;
  /** Set when the store was reopened after a power cut: the seqs skipped so none is reused. */
  readonly skippedSeqs: { from: number; to: number } | null = null;
  private sent = 0;
  private readonly dropped: DropCounters = { total: 0, rows: 0, age: 0, bytes: 0 };

  constructor(private readonly options: SqliteOutboxOptions) {
    this.rowMax = options.rowMax ?? 500;
    mkdirSync(dirname(options.path), { recursive: true });
    let db: Database.Database | undefined;
    try {
      db = new Database(options.path);
      this.db = db;
      // Before any table exists (or once, with a VACUUM, for a file from before this setting): lets
      // enforceBounds() hand freed pages back to the file system instead of keeping the file at its peak.
      if ((db.pragma("auto_vacuum", { simple: true }) as number) !== 2) {
        db.pragma("auto_vacuum = INCREMENTAL");
        db.exec("VACUUM");
      }
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
      db.pragma("busy_timeout = 5000");
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
      // After a checkpoint the WAL file is cut back to this size, so it cannot keep a burst's peak.
      db.pragma("journal_size_limit = 8388608");
      migrate(db);
      this.epoch = this.meta("epoch") ?? this.initMeta("epoch", randomBytes(8).toString("hex"));
      this.nextSeq = Number(this.meta("next_seq") ?? this.initMeta("next_seq", "1"));
      this.reserved = Number(this.meta("seq_reserved") ?? this.initMeta("seq_reserved", String(this.nextSeq)));
      const boot = bootId();
      const lastBoot = this.meta("boot_id") ?? this.initMeta("boot_id", boot);
      // Another boot and a reservation beyond the counter: the machine went down without closing the
      // store, and commits (seqs already published) may have been lost with the page cache. Continue
      // past everything that could have been handed out.
      if (lastBoot !== boot && this.reserved > this.nextSeq) {
        this.skippedSeqs = { from: this.nextSeq, to: this.reserved - 1 };
        this.nextSeq = this.reserved;
        db.prepare("UPDATE meta SET value = ? WHERE key = 'next_seq'").run(String(this.nextSeq));
      }
      db.prepare("UPDATE meta SET value = ? WHERE key = 'boot_id'").run(boot);
      this.space = new StoreSpace(db, options.maxBytes ?? 0);
      this.history = new HistoryTable(db, options.history ?? { enabled: true, maxAgeMs: 7 * 86_400_000, maxBytes: 0 });
      this.insert = db.prepare("INSERT INTO outbox (first_seq, count, kind, ts, body) VALUES (?, ?, ?, ?, ?)");
      this.saveNextSeq = db.prepare("UPDATE meta SET value = ? WHERE key = 'next_seq'");
      this.selectAfter = db.prepare("SELECT first_seq AS firstSeq, count, kind, body FROM outbox WHERE first_seq > ? ORDER BY first_seq");
      this.selectPriorityAfter = db.prepare(
        "SELECT first_seq AS firstSeq, count, kind, body FROM outbox WHERE kind IN ('alarm', 'event') AND first_seq > ? ORDER BY first_seq",
      );
      this.selectTelemetryAfter = db.prepare(
        "SELECT first_seq AS firstSeq, count, kind, body FROM outbox WHERE kind = 'telemetry' AND first_seq > ? ORDER BY first_seq",
      );
      this.deleteRow = db.prepare("DELETE FROM outbox WHERE first_seq = ? RETURNING count");
      this.oldestOfKind = db.prepare("SELECT first_seq, count FROM outbox WHERE kind = ? ORDER BY first_seq LIMIT ?");
      this.olderThan = db.prepare("SELECT first_seq, count FROM outbox WHERE kind = 'telemetry' AND ts < ?");
      this.pending = (db.prepare("SELECT coalesce(sum(count), 0) AS n FROM outbox").get() as { n: number }).n;
    } catch (err) {
      if (db?.open) db.close();
      throw new EdgeError("STORE_OPEN", `cannot open the store ${options.path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * The open database, for the agent's other tables in the same file (alarms, API rules): one
   * connection means their writes and the outbox's never wait on each other's locks.
   */
  get database(): Database.Database {
    return this.db;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
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
    if (first + records.length > this.reserved) this.reserve(first + records.length + SEQ_BLOCK);
    const drops = { rows: 0, bytes: 0 };
    this.inTransaction(() => {
      // Make room first, so that a store at its byte bound takes new data instead of failing.
      drops.bytes += this.makeRoom(this.space.maxBytes > 0 ? this.estimateBytes(kind, records) : 0);
      for (let start = 0; start < records.length; start += this.rowMax) {
        const end = Math.min(records.length, start + this.rowMax);
        // Joined once rather than appended to: `+=` builds a rope of two string nodes per record, which
        // the SQLite binding then walks and copies; at 10,000 records a second that garbage adds up.
        const items = new Array<string>(end - start);
        let newest = 0;
        let oldest = Infinity;
        for (let i = start; i < end; i++) {
          const r = records[i] as NewRecord;
          items[i - start] = withSeq(first + i, r.json);
          if (r.ts > newest) newest = r.ts;
          if (r.ts < oldest) oldest = r.ts;
        }
        const body = `[${items.join(",")}]`;
        this.insert.run(first + start, end - start, kind, newest, body);
        if (kind === "telemetry") this.history.add(first + start, end - start, oldest, newest, body);
      }
      this.saveNextSeq.run(String(first + records.length));
      const excess = this.pending - drops.bytes + records.length - this.options.maxRows;
      // In the same transaction: the outbox is never observed above its bounds.
      if (excess > 0) drops.rows += this.dropOldest(excess);
      drops.bytes += this.makeRoom();
    });
    // Counters move only once the transaction has committed: a rolled-back append changed nothing.
    this.nextSeq = first + records.length;
    this.pending += records.length - drops.rows - drops.bytes;
    this.count("rows", drops.rows);
    this.count("bytes", drops.bytes);
    return { first, last: first + records.length - 1 };
  }

  /** Durably records that seqs below `upTo` may be in use: one fsync per SEQ_BLOCK seqs. */
  private reserve(upTo: number): void {
    this.db.pragma("synchronous = FULL");
    try {
      this.db.prepare("UPDATE meta SET value = ? WHERE key = 'seq_reserved'").run(String(upTo));
    } finally {
      this.db.pragma(`synchronous = ${this.options.synchronous === "full" ? "FULL" : "NORMAL"}`);
    }
    this.reserved = upTo;
  }

  /** Bytes an append will take: its text (twice for telemetry, which the history keeps too) plus seqs and page slack. */
  private estimateBytes(kind: RecordKind, records: readonly NewRecord[]): number {
    let n = 0;
    for (const r of records) n += r.json.length + 16;
    return Math.ceil(n * (kind === "telemetry" && this.history.enabled ? 2 : 1) * 1.1);
  }

  /** Runs `work` in one transaction; the history's running totals follow its commit or rollback. */
  private inTransaction(work: () => void): void {
    try {
      this.db.transaction(work)();
    } catch (err) {
      this.history.rollback();
      throw err;
    }
    this.history.commit();
  }

  /**
   * Over the byte bound: drops the oldest history (already delivered), then outbox rows, until the
   * file is back under its low-water mark. Returns the outbox records dropped.
   */
  private makeRoom(incoming = 0): number {
    if (!this.space.overHighWater(incoming)) return 0;
    this.history.dropOldestWhile(() => this.space.overLowWater(incoming));
    let dropped = 0;
    while (this.space.overLowWater(incoming)) {
      const n = this.dropOldest(1);
      if (n === 0) break;
      dropped += n;
    }
    return dropped;
  }

  private count(reason: "rows" | "bytes" | "age", n: number): void {
    this.dropped[reason] += n;
    this.dropped.total += n;
  }

  /** Drops whole rows, oldest telemetry first, then events, then alarms, until `excess` records are gone. */
  private dropOldest(excess: number): number {
    let dropped = 0;
    for (const kind of DROP_ORDER) {
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
    return this.collect(this.selectAfter.iterate(afterSeq), maxRecords);
  }

  /** Like peek(), but only alarms and events: what the uplink sends ahead of telemetry. */
  peekPriority(afterSeq: number, maxRecords: number): OutboxBatch[] {
    return this.collect(this.selectPriorityAfter.iterate(afterSeq), maxRecords);
  }

  /** Like peek(), but only telemetry. */
  peekTelemetry(afterSeq: number, maxRecords: number): OutboxBatch[] {
    return this.collect(this.selectTelemetryAfter.iterate(afterSeq), maxRecords);
  }

  private collect(rows: Iterable<OutboxBatch>, maxRecords: number): OutboxBatch[] {
    const out: OutboxBatch[] = [];
    let n = 0;
    for (const row of rows) {
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
    let n = 0;
    this.inTransaction(() => {
      if (this.options.maxAgeMs > 0) {
        for (const row of this.olderThan.all(now - this.options.maxAgeMs)) n += this.deleteRow.get(row.first_seq)?.count ?? 0;
      }
      this.history.enforceBounds(now);
    });
    this.pending -= n;
    this.count("age", n);
    this.space.reclaim();
  }

  stats(): OutboxStats {
    return {
      pending: this.pending,
      sent: this.sent,
      dropped: { ...this.dropped },
      lastSeq: this.nextSeq - 1,
      epoch: this.epoch,
      bytes: this.space.usedBytes(),
      maxBytes: this.space.maxBytes,
      history: this.history.stats(),
    };
  }

  close(): void {
    if (!this.db.open) return;
    // Fold the WAL back into the main file so a clean stop leaves one self-contained database.
    try {
      // A clean stop hands back the unused reservation: the next start continues without a gap.
      this.db.prepare("UPDATE meta SET value = ? WHERE key = 'seq_reserved'").run(String(this.nextSeq));
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      this.db.close();
    }
  }
}
