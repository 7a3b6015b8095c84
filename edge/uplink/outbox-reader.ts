import type { Logger } from "../logger.js";
import type { Outbox, OutboxBatch, RecordKind } from "../store/outbox.js";
import { errorMessage } from "../errors.js";

export interface OutboxReaderOptions {
  outbox: Outbox;
  batchMaxSamples: number;
  batchMaxDelayMs: number;
  logger: Logger;
  /** Called when stored records are due: `flush` = send a short batch too (its maxDelay has passed). */
  onDue: (flush: boolean) => void;
}

/**
 * Reads the outbox for an uplink by a cursor, so batches already in flight are not read again, and
 * decides when a batch is due: at once when full, within maxDelay when short. Shared by every uplink
 * format; the uplink owns the connection and the in-flight window.
 */
export class OutboxReader {
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: OutboxReaderOptions) {}

  /** New records were stored: due now if a full batch waits, else within maxDelay. */
  kick(): void {
    // An estimate: seqs dropped by a bound still count here, which is why take() never calls kick().
    const unsent = this.options.outbox.stats().lastSeq - this.cursor;
    if (unsent >= this.options.batchMaxSamples) this.options.onDue(false);
    else this.armTimer();
  }

  /** Whatever is stored is due within maxDelay, full batch or not. */
  armTimer(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.options.onDue(true);
    }, this.options.batchMaxDelayMs);
  }

  /**
   * The next batch past the cursor (whole rows, at most batchMaxSamples records) and moves the cursor
   * past it; null when nothing is stored, or when only a short batch is and `flush` is false (then
   * the timer is armed so it goes within maxDelay).
   */
  take(flush: boolean): OutboxBatch[] | null {
    const { outbox, batchMaxSamples } = this.options;
    const rows = outbox.peek(this.cursor, batchMaxSamples);
    if (rows.length === 0) return null;
    const count = rows.reduce((n, r) => n + r.count, 0);
    const end = lastSeqOf(rows);
    // A batch is as full as it gets when more is stored behind it; otherwise a short one waits for maxDelay.
    if (count < batchMaxSamples && !flush && outbox.stats().lastSeq <= end) {
      this.armTimer();
      return null;
    }
    this.cursor = end;
    return rows;
  }

  /** A batch was not acknowledged: read from `firstSeq` again (a duplicate at worst, never a gap). */
  rewind(firstSeq: number): void {
    this.cursor = Math.min(this.cursor, firstSeq - 1);
  }

  /** Reads everything still stored again, e.g. on a new session whose old in-flight messages are gone. */
  restart(): void {
    this.cursor = 0;
  }

  /** Deletes acknowledged rows; a failure leaves them to be sent again later: a duplicate, never a loss. */
  ack(firstSeqs: readonly number[]): void {
    try {
      this.options.outbox.ack(firstSeqs);
    } catch (err) {
      this.options.logger.error({ err: errorMessage(err) }, "could not delete acknowledged rows");
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The last seq a run of rows carries. */
export function lastSeqOf(rows: readonly OutboxBatch[]): number {
  const last = rows[rows.length - 1];
  return last ? last.firstSeq + last.count - 1 : 0;
}

/** Rows split by kind, each group in outbox order: one message format per kind. */
export function groupByKind(rows: readonly OutboxBatch[]): Map<RecordKind, OutboxBatch[]> {
  const groups = new Map<RecordKind, OutboxBatch[]>();
  for (const r of rows) {
    const list = groups.get(r.kind);
    if (list) list.push(r);
    else groups.set(r.kind, [r]);
  }
  return groups;
}

/** Waits, polling, until `done()` or `graceMs` have passed: a stopping uplink lets its batches in flight be acknowledged. */
export async function settle(done: () => boolean, graceMs: number, clock: () => number): Promise<void> {
  const deadline = clock() + graceMs;
  while (!done() && clock() < deadline) await new Promise((r) => setTimeout(r, 20));
}
