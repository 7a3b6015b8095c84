/**
 * Failure threshold of a rollout: how many failed or rolled-back devices it tolerates before halting.
 *
 * - a number below 1 is a fraction of the devices offered so far (0.2 = one in five);
 * - an integer of 1 or more is a count of failures;
 * - `{ fraction }` / `{ count }` say it explicitly (and make 0 unambiguous).
 * The rollout halts when failures *exceed* the threshold, so `0` (either form) halts on the first one.
 * Offered-so-far (not the whole target list) is the denominator so a failing canary halts the
 * rollout before the wider waves are ever offered.
 */
export type FailureThreshold = { fraction: number } | { count: number };

export function normalizeThreshold(raw: number | FailureThreshold): FailureThreshold {
  if (typeof raw === "number") {
    if (!Number.isFinite(raw) || raw < 0) throw new RangeError(`failureThreshold must be >= 0, got ${raw}`);
    if (raw < 1) return { fraction: raw };
    if (!Number.isInteger(raw)) throw new RangeError(`failureThreshold of 1 or more is a count and must be an integer, got ${raw}`);
    return { count: raw };
  }
  if ("fraction" in raw) {
    if (!(raw.fraction >= 0 && raw.fraction <= 1)) throw new RangeError(`failureThreshold.fraction must be within 0..1, got ${raw.fraction}`);
    return { fraction: raw.fraction };
  }
  if (!Number.isInteger(raw.count) || raw.count < 0) throw new RangeError(`failureThreshold.count must be an integer >= 0, got ${raw.count}`);
  return { count: raw.count };
}

/** True when `failures` out of `offered` devices pass the threshold. */
export function exceedsThreshold(threshold: FailureThreshold, failures: number, offered: number): boolean {
  if (failures <= 0) return false;
  if ("count" in threshold) return failures > threshold.count;
  if (offered <= 0) return true;
  return failures / offered > threshold.fraction;
}

export function describeThreshold(threshold: FailureThreshold): string {
  return "count" in threshold ? `more than ${threshold.count} failure(s)` : `a failure share above ${threshold.fraction}`;
}
