import type { MetricHint } from "../../edge/uplink/sparkplug/values.js";
import type { PointBaseConfig } from "../../edge/drivers/point-schema.js";

/**
 * What a point's values are, for the Sparkplug DBIRTH: from the Modbus `type` or the OPC UA `dataType`
 * when the config names one. 64-bit integers keep their own type only when unscaled (scaled values are
 * doubles); everything else numeric is a Double.
 */
export function metricHint(point: PointBaseConfig): MetricHint {
  const p = point as PointBaseConfig & { type?: string; dataType?: string };
  const type = (p.type ?? p.dataType ?? "").toLowerCase();
  const unscaled = p.scale === 1 && p.offset === 0;
  if (type === "bool" || type === "boolean") return "boolean";
  if (type === "string" || type === "localizedtext") return "string";
  if (type === "int64" && unscaled) return "int64";
  if (type === "uint64" && unscaled) return "uint64";
  return "number";
}
