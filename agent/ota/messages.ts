import { z } from "zod";
import { signatureSchema } from "./keys.js";
import { KINDS } from "./manifest.js";

/**
 * The OTA messages on MQTT, shared with the fleet server: one schema per topic, types inferred from it.
 *
 *   edge/{deviceId}/ota/offer, edge/groups/{group}/ota/offer   fleet -> device, QoS 1   OtaOffer
 *   edge/{deviceId}/ota/status                                  device -> fleet, QoS 1   OtaStatus
 *
 * Nothing in an offer is trusted: the manifest inside it is checked against its signatures and the
 * device's root before a single field is believed, and the archive against the signed size and sha256.
 * Unknown fields are dropped (not refused), so a newer fleet server can add fields without breaking
 * older devices; `v` changes when a field changes meaning.
 */

/** Strict base64 (padding included), the way Buffer#toString("base64") writes it. */
const base64 = (what: string, maxBytes: number) =>
  z
    .string()
    .max(Math.ceil(maxBytes / 3) * 4)
    .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, `expected base64 (${what})`);

const httpUrl = z
  .string()
  .max(4096)
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === "http:" || u.protocol === "https:";
    } catch {
      return false;
    }
  }, "expected an http:// or https:// URL");

const id = z.string().min(1).max(200);

export const otaOfferSchema = z.object({
  v: z.literal(1),
  offerId: id,
  rolloutId: id.optional(),
  /** base64 of the exact NAME.manifest.json bytes (signatures are over these bytes). */
  manifest: base64("the manifest file's bytes", 64 * 1024),
  signatures: z.array(signatureSchema).min(1).max(100),
  /** Where the archive is; the manifest's size and sha256 decide whether its bytes are accepted. */
  url: httpUrl,
  /** base64 root.json files newer than the device may know, oldest first (key rotation). */
  roots: z.array(base64("a root.json file", 256 * 1024)).max(50).optional(),
});
export type OtaOffer = z.infer<typeof otaOfferSchema>;

/**
 * Every state a status message can carry. The first ten are the persisted update states (see
 * state.ts); `refused` is only ever a status: an offer turned away before anything started (busy,
 * invalid, a manifest that failed verification), which leaves the running update untouched.
 */
export const OTA_STATES = ["idle", "offered", "downloading", "verifying", "installing", "switching", "testing", "committed", "rolled_back", "failed", "refused"] as const;
export type OtaStatusState = (typeof OTA_STATES)[number];

export const otaStatusSchema = z.object({
  v: z.literal(1),
  device: z.string().min(1),
  offerId: id,
  rolloutId: id.optional(),
  /** From the manifest (as claimed, when the offer was refused before its signatures passed). */
  name: z.string(),
  kind: z.enum(KINDS),
  version: z.string(),
  state: z.enum(OTA_STATES),
  progress: z.object({ bytes: z.number().int().min(0), total: z.number().int().min(0) }).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  /** The version of this kind running on the device when the message was written (null: none). */
  installedVersion: z.string().nullable(),
  /** ms since the epoch, like every timestamp on the MQTT side. */
  ts: z.number().int(),
});
export type OtaStatus = z.infer<typeof otaStatusSchema>;

export function offerTopics(topicRoot: string, groups: readonly string[]): string[] {
  return [`${topicRoot}/ota/offer`, ...groups.map((g) => `edge/groups/${g}/ota/offer`)];
}

export function statusTopic(topicRoot: string): string {
  return `${topicRoot}/ota/status`;
}
