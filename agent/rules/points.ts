import type { PointBaseConfig } from "../../edge/drivers/point-schema.js";
import type { RulePointInfo } from "../../edge/rules/index.js";

/** The device points of a configuration as the rules engine checks references and write limits against them. */
export function rulePointsOf(devices: ReadonlyArray<{ points: readonly PointBaseConfig[] }>): RulePointInfo[] {
  return devices.flatMap((d) =>
    d.points.map((p): RulePointInfo => ({
      id: p.id,
      writable: p.writable,
      ...(p.writeMin !== undefined ? { writeMin: p.writeMin } : {}),
      ...(p.writeMax !== undefined ? { writeMax: p.writeMax } : {}),
      ...(p.unit !== undefined ? { unit: p.unit } : {}),
    })),
  );
}
