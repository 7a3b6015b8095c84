import type { PointBaseConfig } from "../../edge/drivers/point-schema.js";
import type { Sample } from "../../edge/model.js";

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
