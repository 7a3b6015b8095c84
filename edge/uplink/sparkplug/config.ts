import { z } from "zod";

/**
 * Sparkplug B identifiers (group, edge node, device ids) are MQTT topic levels: the spec forbids the
 * wildcards `+` and `#` and the level separator `/` in them. We also refuse empty ids and control
 * characters, which no host shows sensibly.
 */
export function sparkplugId(what: string) {
  return z
    .string({ error: (iss) => (iss.input === undefined ? `required field is missing (expected ${what})` : `expected ${what} (a string)`) })
    .min(1, { error: `expected ${what}: not empty` })
    .max(128, { error: `expected ${what}: at most 128 characters` })
    .refine((s) => !/[+/#]/.test(s), { error: (iss) => `${what} must not contain '+', '/' or '#' (Sparkplug topic levels), got ${JSON.stringify(iss.input)}` })
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { error: `${what} must not contain control characters` });
}

/** True when `s` may be used as a Sparkplug id (same rule as sparkplugId()). */
export function isSparkplugId(s: string): boolean {
  return sparkplugId("id").safeParse(s).success;
}

/**
 * The `mqtt.sparkplug` section, used when `mqtt.mode` is "sparkplug". The device list for DBIRTH is
 * not configured here: it comes from the configured devices and their points.
 */
export const sparkplugConfigSchema = z
  .strictObject({
    groupId: sparkplugId("a Sparkplug group id").describe("Sparkplug group id: the first topic level after spBv1.0."),
    edgeNodeId: sparkplugId("a Sparkplug edge node id")
      .optional()
      .describe("Sparkplug edge node id. Default: the device id."),
  })
  .describe("Sparkplug B 3.0 uplink: topics spBv1.0/{groupId}/{type}/{edgeNodeId}[/{deviceId}].");

export type SparkplugConfig = z.output<typeof sparkplugConfigSchema>;
