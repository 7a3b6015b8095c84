/**
 * Stage planning: which devices get a release in which wave. Pure and deterministic, so a test (or an
 * operator re-running a plan) gets the same canaries every time.
 */
import { createHash } from "node:crypto";

export interface StageSpec {
  name: string;
  /** Exactly these devices (taken out of the pool before any percentage is drawn). */
  devices?: string[];
  /** Cumulative share of the target devices, 0..100, by the device's hash bucket. */
  percent?: number;
}

export interface PlannedStage {
  name: string;
  devices: string[];
}

export interface StagePlan {
  stages: PlannedStage[];
  /** Targets no stage took (the last stage was neither "the rest" nor 100 %). */
  unplanned: string[];
}

/**
 * A device's bucket in [0, 100): the first 32 bits of sha256(seed + deviceId). Hashing the id (not a
 * list position) keeps a device in the same bucket however the fleet grows or is listed.
 */
export function bucketOf(deviceId: string, seed = ""): number {
  const digest = createHash("sha256").update(`${seed}${deviceId}`).digest();
  return (digest.readUInt32BE(0) / 2 ** 32) * 100;
}

/**
 * Splits `targets` into stages, in order:
 * - `devices`: exactly those (also when not in `targets`: naming a canary is an explicit choice);
 * - `percent: p`: the remaining targets whose bucket is below p (cumulative: 5, 25, 100); a stage with
 *   p > 0 takes at least the lowest-bucket remaining device, so a canary never comes out empty on a
 *   small fleet;
 * - neither: every remaining target.
 * A device is in one stage at most.
 */
export function planStages(targets: readonly string[], specs: readonly StageSpec[], seed = ""): StagePlan {
  const taken = new Set<string>();
  for (const spec of specs) for (const d of spec.devices ?? []) taken.add(d);
  const pool = [...new Set(targets)].filter((d) => !taken.has(d)).map((d) => ({ id: d, bucket: bucketOf(d, seed) }));
  pool.sort((a, b) => a.bucket - b.bucket || (a.id < b.id ? -1 : 1));
  const used = new Set<string>();
  const stages: PlannedStage[] = specs.map((spec) => {
    if (spec.devices !== undefined) {
      const devices = [...new Set(spec.devices)].filter((d) => !used.has(d));
      devices.forEach((d) => used.add(d));
      return { name: spec.name, devices };
    }
    const limit = spec.percent ?? 100;
    const remaining = pool.filter((p) => !used.has(p.id));
    let chosen = remaining.filter((p) => p.bucket < limit);
    if (chosen.length === 0 && limit > 0 && remaining[0] !== undefined) chosen = [remaining[0]];
    const devices = chosen.map((p) => p.id).sort();
    devices.forEach((d) => used.add(d));
    return { name: spec.name, devices };
  });
  const unplanned = pool.map((p) => p.id).filter((d) => !used.has(d)).sort();
  return { stages, unplanned };
}
