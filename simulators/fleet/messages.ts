/**
 * The published OTA message schemas, as the fleet side reads and writes them. The agent's updater
 * parses the same JSON on its side with its own code: nothing here is imported by the agent, so a
 * schema mistake shows up as a failing interop test rather than hiding in shared code.
 */
import { z } from "zod";

/** Topic root fixed by the contract: `edge/{deviceId}/...`. */
export const TOPIC_ROOT = "edge";

export const OTA_STATES = ["idle", "offered", "downloading", "verifying", "installing", "switching", "testing", "committed", "rolled_back", "failed", "refused"] as const;
export type OtaState = (typeof OTA_STATES)[number];

/** States after which a device does nothing more for an offer. */
export const TERMINAL_STATES: ReadonlySet<OtaState> = new Set(["committed", "rolled_back", "failed", "refused"]);
/** Outcomes that count against a rollout's failure threshold. */
export const FAILURE_STATES: ReadonlySet<OtaState> = new Set(["rolled_back", "failed"]);

// Device ids travel in topic levels: no MQTT wildcards or separators, and a bounded length.
const deviceId = z.string().regex(/^[^/#+\s]{1,128}$/, "expected a device id (no '/', '#', '+' or spaces)");

export const otaStatusSchema = z.object({
  v: z.literal(1),
  device: deviceId,
  offerId: z.string().min(1).max(128),
  rolloutId: z.string().min(1).max(128).optional(),
  name: z.string().min(1).max(128),
  kind: z.string().min(1).max(32),
  version: z.string().min(1).max(64),
  state: z.enum(OTA_STATES),
  progress: z.object({ bytes: z.number().int().min(0), total: z.number().int().min(0) }).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  // null before the first install is recorded; the agent may send either.
  installedVersion: z.string().max(64).nullable(),
  ts: z.union([z.number(), z.string()]),
});
export type OtaStatus = z.infer<typeof otaStatusSchema>;

export interface OfferSignature {
  keyid: string;
  sig: string;
}

/** What the fleet publishes on `edge/{deviceId}/ota/offer` or `edge/groups/{group}/ota/offer`. */
export interface OtaOffer {
  v: 1;
  offerId: string;
  rolloutId?: string;
  /** base64 of the exact NAME.manifest.json bytes (the signed bytes). */
  manifest: string;
  signatures: OfferSignature[];
  url: string;
  /** base64 root.json files, oldest first, when the fleet ships a root rotation with the offer. */
  roots?: string[];
}

export const otaOfferSchema = z.object({
  v: z.literal(1),
  offerId: z.string().min(1),
  rolloutId: z.string().min(1).optional(),
  manifest: z.string().min(1),
  signatures: z.array(z.object({ keyid: z.string(), sig: z.string() })),
  url: z.string().url(),
  roots: z.array(z.string()).optional(),
});

export const offerTopic = (device: string): string => `${TOPIC_ROOT}/${device}/ota/offer`;
export const groupOfferTopic = (group: string): string => `${TOPIC_ROOT}/groups/${group}/ota/offer`;
export const statusTopic = (device: string): string => `${TOPIC_ROOT}/${device}/ota/status`;
export const STATUS_FILTER = `${TOPIC_ROOT}/+/ota/status`;
export const STATE_FILTER = `${TOPIC_ROOT}/+/state`;

/** The device id in `edge/{deviceId}/<rest>`, or undefined for any other topic. */
export function deviceOfTopic(topic: string, rest: string): string | undefined {
  const parts = topic.split("/");
  const tail = rest.split("/");
  if (parts.length !== 2 + tail.length || parts[0] !== TOPIC_ROOT) return undefined;
  if (parts.slice(2).join("/") !== rest) return undefined;
  const id = parts[1];
  return id === undefined || id === "" || id === "groups" ? undefined : id;
}

export type StatusParse = { ok: true; status: OtaStatus } | { ok: false; reason: string };

/**
 * Parses a status payload from `topic`. Never throws: a device with a bug (or a stranger on the
 * broker) must not take the fleet server down, so the caller counts and logs the reason instead.
 */
export function parseStatus(topic: string, payload: Buffer | string): StatusParse {
  const device = deviceOfTopic(topic, "ota/status");
  if (device === undefined) return { ok: false, reason: `not a status topic: ${topic}` };
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === "string" ? payload : payload.toString("utf8"));
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = otaStatusSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ") };
  // A device speaks only for itself: a status naming another device is a bug or a spoof.
  if (parsed.data.device !== device) return { ok: false, reason: `status on ${topic} names device ${parsed.data.device}` };
  return { ok: true, status: parsed.data };
}

/** `edge/{id}/state`: "online"/"offline" as the uplink publishes it (also accepts {"state": ...}). */
export function parseDeviceState(payload: Buffer): "online" | "offline" | undefined {
  const text = payload.toString("utf8").trim();
  if (text === "online" || text === "offline") return text;
  try {
    const json = JSON.parse(text) as { state?: unknown };
    if (json.state === "online" || json.state === "offline") return json.state;
  } catch {
    // not JSON: unknown state
  }
  return undefined;
}
