import type Database from "better-sqlite3";

/** Drop down to this share of the bound once over the high-water mark, so bounds do not act on every append. */
const LOW_WATER = 0.85;
const HIGH_WATER = 0.95;
/** Free pages are handed back to the file system once they add up to this much (or a tenth of the file). */
const RECLAIM_MIN_BYTES = 4 * 1024 * 1024;

/**
 * The store's size on disk, from SQLite's own page accounting (no file system calls, no table scans):
 * used = pages in the file minus pages on the free list. A byte bound is enforced against `used`, and
 * SQLite's `max_page_count` is set to the bound so the file cannot grow past it even if a single
 * transaction is larger than the headroom (that transaction fails instead; nothing stored is lost).
 */
export class StoreSpace {
  private readonly pageSize: number;
  private readonly pageCount: Database.Statement<[], number>;
  private readonly freeCount: Database.Statement<[], number>;

  constructor(
    private readonly db: Database.Database,
    /** 0 = no bound. */
    readonly maxBytes: number,
  ) {
    this.pageSize = db.pragma("page_size", { simple: true }) as number;
    this.pageCount = db.prepare<[], number>("PRAGMA page_count").pluck();
    this.freeCount = db.prepare<[], number>("PRAGMA freelist_count").pluck();
    if (maxBytes > 0) db.pragma(`max_page_count = ${Math.max(16, Math.ceil(maxBytes / this.pageSize))}`);
  }

  usedBytes(): number {
    return ((this.pageCount.get() ?? 0) - (this.freeCount.get() ?? 0)) * this.pageSize;
  }

  /** True when `incoming` more bytes would take the store past its high-water mark. */
  overHighWater(incoming = 0): boolean {
    return this.maxBytes > 0 && this.usedBytes() + incoming > this.maxBytes * HIGH_WATER;
  }

  /** True while the store plus `incoming` bytes is above its low-water mark: keep dropping. */
  overLowWater(incoming = 0): boolean {
    return this.maxBytes > 0 && this.usedBytes() + incoming > this.maxBytes * LOW_WATER;
  }

  /** Gives free pages back to the file system (auto_vacuum = INCREMENTAL), then trims the WAL. */
  reclaim(): void {
    const freeBytes = (this.freeCount.get() ?? 0) * this.pageSize;
    const fileBytes = (this.pageCount.get() ?? 0) * this.pageSize;
    if (freeBytes < Math.min(RECLAIM_MIN_BYTES, fileBytes / 10) || freeBytes === 0) return;
    this.db.pragma("incremental_vacuum");
    this.db.pragma("wal_checkpoint(TRUNCATE)");
  }
}
