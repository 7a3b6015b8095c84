import { z } from "zod";

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
