import type { Logger } from "../logger.js";
import type { Outbox, OutboxBatch, RecordKind } from "../store/outbox.js";
import { errorMessage } from "../errors.js";

/* Small pieces every uplink format uses. */

/** Deletes acknowledged rows; a failure leaves them to be sent again later: a duplicate, never a loss. */
export function ackRows(outbox: Outbox, firstSeqs: readonly number[], logger: Logger): void {
  try {
    outbox.ack(firstSeqs);
  } catch (err) {
    logger.error({ err: errorMessage(err) }, "could not delete acknowledged rows");
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
