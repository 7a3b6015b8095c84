import type { Driver } from "../drivers/driver.js";
import type { PointBaseConfig } from "../drivers/point-schema.js";
import type { SampleValue } from "../model.js";
import { EdgeError } from "../errors.js";
import { toRaw } from "./scaling.js";

/**
 * Decimal number text: what an int64 travels as, and what a client may send for a numeric point.
 * Exported so that rule write actions read text as a number exactly as this writer does.
 */
export const NUMERIC = /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;

export interface WritablePoint {
  config: PointBaseConfig;
  driver: Driver;
}

export interface WriteResult {
  point: string;
  /** The engineering value asked for. */
  value: SampleValue;
  /** What went to the device after the inverse of scale/offset. */
  raw: SampleValue;
}

/**
 * The one way anything (local API, rules, fleet commands) writes a point: it must be marked writable,
 * within its writeMin/writeMax, and is converted from engineering units to the device's raw value
 * before the driver sends it. Every refusal names the point and the reason.
 */
export class PointWriter {
  constructor(private readonly points: ReadonlyMap<string, WritablePoint>) {}

  async write(pointId: string, value: SampleValue): Promise<WriteResult> {
    const entry = this.points.get(pointId);
    if (!entry) throw new EdgeError("POINT_UNKNOWN", `no point "${pointId}" in the configuration`);
    const { config, driver } = entry;
    if (!config.writable) throw new EdgeError("POINT_READ_ONLY", `point "${pointId}" is not writable (set writable: true in the config)`);
    // A numeric string (an int64 as decimal text, or "9999" from an API client) is range-checked like a
    // number: limits must not be bypassed by changing the value's type.
    const numeric = typeof value === "number" ? value : typeof value === "string" && NUMERIC.test(value) ? Number(value) : null;
    if (numeric === null && typeof value === "string" && (config.writeMin !== undefined || config.writeMax !== undefined)) {
      throw new EdgeError("WRITE_RANGE", `point "${pointId}": ${JSON.stringify(value)} is not a number (the point has write limits)`);
    }
    if (numeric !== null) {
      if (!Number.isFinite(numeric)) throw new EdgeError("WRITE_RANGE", `point "${pointId}": ${value} is not a finite number`);
      if (config.writeMin !== undefined && numeric < config.writeMin) {
        throw new EdgeError("WRITE_RANGE", `point "${pointId}": ${value} is below writeMin ${config.writeMin}`);
      }
      if (config.writeMax !== undefined && numeric > config.writeMax) {
        throw new EdgeError("WRITE_RANGE", `point "${pointId}": ${value} is above writeMax ${config.writeMax}`);
      }
    }
    const raw = toRaw(value, config);
    await driver.write(pointId, raw);
    return { point: pointId, value, raw };
  }
}
