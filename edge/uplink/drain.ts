import type { Clock } from "../model.js";
import type { Outbox, OutboxBatch } from "../store/outbox.js";

/**
 * Which stored rows the uplink sends next. Three streams, in this order:
 *  - priority: alarms and events, whenever any are pending;
 *  - live: telemetry stored since the current connection came up, sent as it arrives;
 *  - backlog: telemetry stored before that (an outage's worth), oldest first, never taking the last
 *    in-flight slot (so live data always has one) and optionally capped in samples per second.
 * Each stream keeps its own cursor; a row already in flight is never read again (after a reconnect
 * mqtt.js re-sends those itself).
 */
export type Stream = "priority" | "live" | "backlog";

export interface PlannedBatch {
  stream: Stream;
  rows: OutboxBatch[];
  count: number;
  /** The highest seq in the batch. */
  end: number;
}

export interface NextBatch {
  batch: PlannedBatch | null;
  /** Set when only the backlog's rate cap holds a batch back: come back after this long. */
  waitMs: number | null;
  /** A short live batch is waiting to fill (send it within maxDelay anyway). */
  liveWaiting: boolean;
}

export interface DrainOptions {
  outbox: Outbox;
  batchMaxSamples: number;
  /** Longest a short live batch waits to fill. */
  batchMaxDelayMs: number;
  inflightBatches: number;
  /** Most backlog samples sent per second; 0 = as fast as the broker acknowledges. */
  backlogMaxPerS: number;
  clock: Clock;
  /** Whether the uplink can publish now (connected, not stopping). */
  canSend: () => boolean;
  /** Publishes one batch; the uplink reports back with acked() or failed(). */
  publish: (batch: PlannedBatch) => void;
}

/** The batching settings every uplink passes through from its own options. */
export type DrainSettings = Pick<DrainOptions, "outbox" | "batchMaxSamples" | "batchMaxDelayMs" | "inflightBatches" | "clock"> & {
  backlogMaxPerS?: number | undefined;
};

/** The planner's options from an uplink's options plus its two callbacks. */
export function drainOptions(o: DrainSettings, canSend: DrainOptions["canSend"], publish: DrainOptions["publish"]): DrainOptions {
  return {
    outbox: o.outbox,
    batchMaxSamples: o.batchMaxSamples,
    batchMaxDelayMs: o.batchMaxDelayMs,
    inflightBatches: o.inflightBatches,
    backlogMaxPerS: o.backlogMaxPerS ?? 0,
    clock: o.clock,
    canSend,
    publish,
  };
}

export interface DrainProgress {
  /** Records stored and not yet acknowledged. */
  pending: number;
  /** Records acknowledged per second over the last few seconds. */
  ratePerS: number;
  /** Seconds until the outbox is empty at that rate (null when nothing drains). */
  etaS: number | null;
  /** True while telemetry from before the current connection is still being sent. */
  backlog: boolean;
  /** Telemetry with a seq below this was stored before the current connection (the backlog). */
  liveFromSeq: number;
}

/** Acks are counted in buckets of this many ms over this many buckets: the rate covers the last ~10 s. */
const RATE_BUCKET_MS = 1000;
const RATE_BUCKETS = 10;

export class DrainPlanner {
  private readonly cursors: Record<Stream, number> = { priority: 0, live: 0, backlog: 0 };
  /** Telemetry with a seq from here on is live; below it, backlog. */
  private liveFrom = 1;
  private backlogDone = true;
  /** Rows in flight (never read twice) and, separately, batches in flight (what the window counts). */
  private readonly inflight = new Set<number>();
  private inflightBatches = 0;
  private inflightBacklog = 0;
  private tokens = 0;
  private tokensAt = 0;
  private readonly ackLog: Array<{ at: number; n: number }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: DrainOptions) {}

  /**
   * Publishes as many batches as the in-flight window allows (short live batches only when `flush`),
   * and comes back on a timer for a short live batch (within maxDelay) or a rate-capped backlog.
   */
  drive(flush: boolean): void {
    if (!this.options.canSend()) return;
    for (;;) {
      const { batch, waitMs, liveWaiting } = this.next(flush);
      if (!batch) {
        if (liveWaiting) this.armTimer(Math.min(waitMs ?? Infinity, this.options.batchMaxDelayMs));
        else if (waitMs !== null) this.armTimer(waitMs);
        return;
      }
      this.sent(batch);
      this.options.publish(batch);
    }
  }

  /** Stops the timer (the uplink is stopping). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private armTimer(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drive(true);
    }, ms);
  }

  /**
   * A (re)connect: everything stored so far is backlog, and each stream reads from its start again.
   * `forgetInflight` for a brand-new client whose predecessor's unacknowledged messages are gone
   * (mqtt.js re-sends them itself when it reconnects the same client).
   */
  onConnect(forgetInflight = false): void {
    if (forgetInflight) {
      this.inflight.clear();
      this.inflightBatches = 0;
      this.inflightBacklog = 0;
    }
    const lastSeq = this.options.outbox.lastSeq;
    this.liveFrom = lastSeq + 1;
    this.cursors.priority = 0;
    this.cursors.backlog = 0;
    this.cursors.live = lastSeq;
    this.backlogDone = false;
    this.tokens = 0;
    this.tokensAt = this.options.clock();
  }

  get inflightCount(): number {
    return this.inflightBatches;
  }

  /**
   * The next batch to publish, or null. `flush` allows a short live batch (its wait is over).
   */
  next(flush: boolean): NextBatch {
    const o = this.options;
    if (this.inflightBatches >= o.inflightBatches) return { batch: null, waitMs: null, liveWaiting: false };
    const priority = this.read("priority", (after, max) => o.outbox.peekPriority(after, max));
    if (priority) return { batch: priority, waitMs: null, liveWaiting: false };
    const live = this.read("live", (after, max) => o.outbox.peekTelemetry(after, max));
    // A live batch goes when full, or when it is as full as whole rows allow (more is stored behind it).
    if (live && (flush || live.count >= o.batchMaxSamples || live.end < o.outbox.lastSeq)) {
      return { batch: live, waitMs: null, liveWaiting: false };
    }
    const liveWaiting = live !== null;
    if (!this.backlogDone && this.inflightBacklog < o.inflightBatches - 1) {
      const backlog = this.read("backlog", (after, max) => o.outbox.peekTelemetry(after, max).filter((r) => r.firstSeq < this.liveFrom));
      if (!backlog) this.backlogDone = true;
      else {
        const waitMs = this.rateWait(backlog.count);
        return waitMs === 0 ? { batch: backlog, waitMs: null, liveWaiting } : { batch: null, waitMs, liveWaiting };
      }
    }
    return { batch: null, waitMs: null, liveWaiting };
  }

  /** The caller published `batch`: its rows are in flight, its stream reads on after it. */
  sent(batch: PlannedBatch): void {
    for (const r of batch.rows) this.inflight.add(r.firstSeq);
    this.inflightBatches++;
    this.cursors[batch.stream] = Math.max(this.cursors[batch.stream], batch.end);
    if (batch.stream === "backlog") {
      this.inflightBacklog++;
      this.tokens -= batch.count;
    }
  }

  /** The broker acknowledged `batch` (its rows are deleted by the caller). */
  acked(batch: PlannedBatch): void {
    this.settle(batch);
    const now = this.options.clock();
    const last = this.ackLog[this.ackLog.length - 1];
    if (last && now - last.at < RATE_BUCKET_MS) last.n += batch.count;
    else this.ackLog.push({ at: now, n: batch.count });
    while (this.ackLog.length > RATE_BUCKETS) this.ackLog.shift();
  }

  /** `batch` was not acknowledged: its stream reads its rows again (a duplicate at worst, never a gap). */
  failed(batch: PlannedBatch): void {
    this.settle(batch);
    const first = batch.rows[0]?.firstSeq ?? 1;
    // A batch sent as live before a reconnect is backlog now: the backlog walk must read it again (with
    // its rate cap), not the live cursor, which would then re-read the whole backlog as "live".
    const stream = batch.stream === "priority" ? "priority" : first < this.liveFrom ? "backlog" : "live";
    this.cursors[stream] = Math.min(this.cursors[stream], first - 1);
    if (stream === "backlog") this.backlogDone = false;
  }

  progress(): DrainProgress {
    const now = this.options.clock();
    const recent = this.ackLog.filter((b) => now - b.at < RATE_BUCKET_MS * RATE_BUCKETS);
    const n = recent.reduce((sum, b) => sum + b.n, 0);
    const spanMs = recent.length > 0 ? Math.max(RATE_BUCKET_MS, now - (recent[0] as { at: number }).at) : 0;
    const ratePerS = spanMs > 0 ? Math.round((n * 1000) / spanMs) : 0;
    const pending = this.options.outbox.stats().pending;
    return {
      pending,
      ratePerS,
      etaS: ratePerS > 0 ? Math.ceil(pending / ratePerS) : pending === 0 ? 0 : null,
      backlog: !this.backlogDone,
      liveFromSeq: this.liveFrom,
    };
  }

  private settle(batch: PlannedBatch): void {
    for (const r of batch.rows) this.inflight.delete(r.firstSeq);
    this.inflightBatches = Math.max(0, this.inflightBatches - 1);
    if (batch.stream === "backlog") this.inflightBacklog = Math.max(0, this.inflightBacklog - 1);
  }

  /** Whole rows after the stream's cursor, skipping rows already in flight, up to one batch. */
  private read(stream: Stream, peek: (after: number, max: number) => OutboxBatch[]): PlannedBatch | null {
    const max = this.options.batchMaxSamples;
    for (;;) {
      const rows = peek(this.cursors[stream], max);
      if (rows.length === 0) return null;
      const fresh = rows.filter((r) => !this.inflight.has(r.firstSeq));
      const lastRow = rows[rows.length - 1] as OutboxBatch;
      if (fresh.length === 0) {
        // Everything read is already on its way: move past it (a failure moves the cursor back).
        this.cursors[stream] = lastRow.firstSeq;
        continue;
      }
      const count = fresh.reduce((sum, r) => sum + r.count, 0);
      const last = fresh[fresh.length - 1] as OutboxBatch;
      return { stream, rows: fresh, count, end: last.firstSeq + last.count - 1 };
    }
  }

  /** 0 when the backlog may send `count` samples now; else how long until the rate cap allows it. */
  private rateWait(count: number): number {
    const perS = this.options.backlogMaxPerS;
    if (perS <= 0) return 0;
    const now = this.options.clock();
    // Up to one second's worth of tokens accumulate, so a pause does not turn into a burst.
    this.tokens = Math.min(perS, this.tokens + ((now - this.tokensAt) * perS) / 1000);
    this.tokensAt = now;
    const need = Math.min(count, perS);
    if (this.tokens >= need) return 0;
    return Math.max(1, Math.ceil(((need - this.tokens) * 1000) / perS));
  }
}
