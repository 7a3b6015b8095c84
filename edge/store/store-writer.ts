import type { Clock } from "../model.js";
import type { Logger } from "../logger.js";
import { errorMessage } from "../errors.js";
import { DROP_ORDER, type NewRecord, type Outbox, type RecordKind } from "./outbox.js";

export interface StoreWriterOptions {
  outbox: Pick<Outbox, "append">;
  logger: Logger;
  clock: Clock;
  /** Most records held in memory while the store refuses writes; the oldest telemetry goes first. */
  maxBuffered: number;
  /** How often to try the store again while it refuses writes. */
  retryMs: number;
  /** Called after records were committed (now or by a later retry). */
  onStored?: (() => void) | undefined;
}

export interface StoreFault {
  /** Why the store refuses writes, e.g. "database or disk is full". */
  reason: string;
  code: string | null;
  since: number;
}

export interface StoreWriterStatus {
  fault: StoreFault | null;
  /** Records held in memory, waiting for the store. */
  buffered: number;
  /** Records lost because the memory buffer was full too, since start. */
  droppedFromMemory: number;
  /** Times the store started refusing writes, since start. */
  faults: number;
}

interface Held {
  kind: RecordKind;
  records: NewRecord[];
}

/**
 * Every write to the store goes through here. When SQLite refuses a write (disk full, read-only file
 * system, I/O error) the agent keeps running: it says so loudly, keeps the newest records in a bounded
 * memory buffer, retries on a timer and, once the store takes writes again, commits the buffer in
 * order and says that too. Records get their seq only when committed, so nothing held here has one.
 */
export class StoreWriter {
  private held: Held[] = [];
  private heldCount = 0;
  private fault: StoreFault | null = null;
  private faults = 0;
  private droppedFromMemory = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: StoreWriterOptions) {}

  /** Stores records now, or holds them when the store refuses. Never throws. Returns true when committed. */
  append(kind: RecordKind, records: NewRecord[]): boolean {
    if (records.length === 0) return true;
    // While a fault lasts, new records queue behind the held ones: order is kept.
    if (this.fault) {
      this.hold(kind, records);
      return false;
    }
    try {
      this.options.outbox.append(kind, records);
    } catch (err) {
      this.enterFault(err);
      this.hold(kind, records);
      return false;
    }
    this.notify();
    return true;
  }

  status(): StoreWriterStatus {
    return { fault: this.fault && { ...this.fault }, buffered: this.heldCount, droppedFromMemory: this.droppedFromMemory, faults: this.faults };
  }

  /** Tries to commit what is held (the retry timer calls this; stop() calls it one last time). */
  retry(): boolean {
    while (this.held.length > 0) {
      const next = this.held[0] as Held;
      try {
        this.options.outbox.append(next.kind, next.records);
      } catch (err) {
        if (this.fault) this.fault.reason = errorMessage(err);
        return false;
      }
      this.held.shift();
      this.heldCount -= next.records.length;
    }
    if (this.fault) {
      const lastedMs = this.options.clock() - this.fault.since;
      this.options.logger.warn({ lastedMs, droppedFromMemory: this.droppedFromMemory }, "store accepts writes again: held records committed");
      this.fault = null;
    }
    this.stopTimer();
    this.notify();
    return true;
  }

  /** Stops retrying. Held records are lost only if the store still refuses now; the count is logged. */
  stop(): void {
    this.stopTimer();
    if (this.heldCount > 0 && !this.retry()) {
      this.options.logger.error({ lost: this.heldCount, reason: this.fault?.reason }, "stopping with records the store never accepted");
    }
  }

  private enterFault(err: unknown): void {
    const code = (err as { code?: unknown } | null)?.code;
    this.fault = { reason: errorMessage(err), code: typeof code === "string" ? code : null, since: this.options.clock() };
    this.faults++;
    this.options.logger.error(
      { err: this.fault.reason, code: this.fault.code, holdingUpTo: this.options.maxBuffered },
      "STORE REFUSES WRITES (disk full, read-only or failing?): keeping the newest records in memory and retrying",
    );
    this.timer ??= setInterval(() => this.retry(), this.options.retryMs);
    this.timer.unref?.();
  }

  private hold(kind: RecordKind, records: NewRecord[]): void {
    const last = this.held[this.held.length - 1];
    if (last && last.kind === kind) for (const r of records) last.records.push(r);
    else this.held.push({ kind, records: records.slice() });
    this.heldCount += records.length;
    this.trim();
  }

  /** Over the memory bound: the oldest telemetry goes first, then events, then alarms (as in the store). */
  private trim(): void {
    for (const kind of DROP_ORDER) {
      for (const h of this.held) {
        if (this.heldCount <= this.options.maxBuffered) break;
        if (h.kind !== kind) continue;
        const n = Math.min(h.records.length, this.heldCount - this.options.maxBuffered);
        h.records.splice(0, n);
        this.heldCount -= n;
        this.droppedFromMemory += n;
      }
    }
    this.held = this.held.filter((h) => h.records.length > 0);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private notify(): void {
    try {
      this.options.onStored?.();
    } catch (err) {
      this.options.logger.error({ err: errorMessage(err) }, "notifying the uplink failed; the records are stored and will be sent");
    }
  }
}
