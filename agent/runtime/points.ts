import type { PointBaseConfig } from "../../edge/drivers/point-schema.js";
import type { Sample } from "../../edge/model.js";
import type { VirtualPointConfig } from "../../edge/rules/index.js";

/** A point as the API shows it: what it is, and its latest stored sample. */
export interface PointView {
  id: string;
  device: string;
  name: string | null;
  unit: string | null;
  writable: boolean;
  latest: Sample | null;
}

export function pointView(device: string, p: PointBaseConfig, latest: Sample | undefined): PointView {
  return { id: p.id, device, name: p.name ?? null, unit: p.unit ?? null, writable: p.writable, latest: latest ?? null };
}

/** Virtual points belong to no device: they show under the pseudo-device "rules" and are never writable. */
export function virtualPointView(v: VirtualPointConfig, latest: Sample | undefined): PointView {
  return { id: v.id, device: "rules", name: v.name ?? null, unit: v.unit ?? null, writable: false, latest: latest ?? null };
}
