import type { OutboxBatch } from "../store/outbox.js";
import type { TelemetryBatch } from "./batch-schema.js";

// The payload's zod schema (the contract, and the source of telemetry.schema.json) is in
// batch-schema.ts: the uplink encodes batches in the agent's main thread, which does not load zod
// (~12 MB resident). The type import is erased at compile time.
export type { TelemetryBatch };

/** seqs as the contract wants them: a range only when contiguous. */
export function describeSeqs(rows: readonly OutboxBatch[]): TelemetryBatch["seqs"] {
  let contiguous = true;
  for (let i = 1; i < rows.length; i++) {
    const prev = rows[i - 1] as OutboxBatch;
    if ((rows[i] as OutboxBatch).firstSeq !== prev.firstSeq + prev.count) contiguous = false;
  }
  const first = rows[0]?.firstSeq ?? 0;
  const lastRow = rows[rows.length - 1];
  if (contiguous) return { first, last: lastRow ? lastRow.firstSeq + lastRow.count - 1 : 0 };
  return rows.flatMap((r) => Array.from({ length: r.count }, (_, i) => r.firstSeq + i));
}

/**
 * Builds the payload text by splicing the stored JSON rows instead of parsing and re-serialising
 * them: the drain after an outage moves hundreds of thousands of samples per second through here.
 */
export function encodeTelemetryBatch(device: string, epoch: string, rows: readonly OutboxBatch[]): string {
  const count = rows.reduce((n, r) => n + r.count, 0);
  const samples = rows.map((r) => r.body.slice(1, -1)).join(",");
  return (
    `{"v":1,"device":${JSON.stringify(device)},"epoch":${JSON.stringify(epoch)},` +
    `"seqs":${JSON.stringify(describeSeqs(rows))},"count":${count},"samples":[${samples}]}`
  );
}
