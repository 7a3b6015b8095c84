import { z } from "zod";
import type { OutboxBatch } from "../store/outbox.js";

/**
 * The telemetry batch: one MQTT message carries many samples plus the outbox sequence numbers, so a
 * consumer can drop duplicates (delivery is at-least-once). This schema is the payload's contract; the
 * published JSON Schema (edge/uplink/telemetry.schema.json) is generated from it.
 */
export const telemetryBatchSchema = z
  .object({
    v: z.literal(1).describe("Payload format version."),
    device: z.string().describe("Device id of the gateway that sent the batch."),
    epoch: z
      .string()
      .describe("Lifetime of the gateway's database. seq values are unique within one epoch; a reset database starts a new one."),
    seqs: z
      .union([
        z.object({ first: z.number().int(), last: z.number().int() }).describe("Contiguous range first..last."),
        z.array(z.number().int()).describe("The exact seqs, when they are not contiguous."),
      ])
      .describe("The outbox sequence numbers this batch carries."),
    count: z.number().int().min(1).describe("Number of samples in the batch."),
    samples: z.array(
      z.object({
        seq: z.number().int().describe("Outbox sequence number of this sample."),
        point: z.string().describe("Point id from the gateway's configuration."),
        ts: z.number().int().describe("Time of the reading, milliseconds since the Unix epoch."),
        value: z
          .union([z.number(), z.boolean(), z.string(), z.null()])
          .describe("Engineering value. Integers beyond 2^53 are decimal strings; null when a bad reading has no value."),
        quality: z.enum(["good", "bad", "uncertain"]),
        reason: z.string().optional().describe("Why the sample is bad or uncertain."),
      }),
    ),
  })
  .describe("edge-agent telemetry batch, published on edge/{deviceId}/telemetry with QoS 1.");

export type TelemetryBatch = z.output<typeof telemetryBatchSchema>;

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
