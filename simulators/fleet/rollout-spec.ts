/** The body of `POST /rollouts`, validated once so the engine only sees well-formed specs. */
import { z } from "zod";

const deviceId = z.string().regex(/^[^/#+\s]{1,128}$/, "expected a device id (no '/', '#', '+' or spaces)");
const group = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "expected a group name");

export const stageSpecSchema = z
  .strictObject({
    name: z.string().min(1).max(64),
    devices: z.array(deviceId).max(100_000).optional(),
    percent: z.number().min(0).max(100).optional(),
  })
  .refine((s) => s.devices === undefined || s.percent === undefined, "a stage takes devices or percent, not both");

export const rolloutSpecSchema = z.strictObject({
  /** `name-version` of a release in the store (or its file NAME). */
  release: z.string().min(1),
  /** Target devices; default: every device the fleet knows (state topic, status, provisioning). */
  devices: z.array(deviceId).max(100_000).optional(),
  /**
   * Either group membership `{deviceId: group}` (the targets are its devices unless `devices` is
   * given), or a list of groups: the targets are the known devices in those groups.
   */
  groups: z.union([z.record(deviceId, group), z.array(group).min(1)]).optional(),
  stages: z.array(stageSpecSchema).min(1).max(100),
  failureThreshold: z.union([z.number().min(0), z.strictObject({ fraction: z.number().min(0).max(1) }), z.strictObject({ count: z.number().int().min(0) })]),
  /** Soak time between a finished stage and the next one. */
  waveDelayMs: z.number().int().min(0).max(7 * 86_400_000).optional(),
  /** Salt of the percentage hash; default "" (the same buckets for every rollout). */
  seed: z.string().max(128).optional(),
  /** base64 root.json files to ship with each offer (a root rotation). */
  roots: z.array(z.string()).max(100).optional(),
});

export type RolloutSpec = z.infer<typeof rolloutSpecSchema>;
