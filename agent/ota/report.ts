import { KINDS, type ReleaseKind } from "./manifest.js";
import type { OtaStatus, OtaStatusState } from "./messages.js";
import type { UpdateRecord } from "./state.js";

/** What a status message says about a release; from the verified manifest when there is one. */
export interface ReleaseLabel {
  name: string;
  kind: ReleaseKind;
  version: string;
}

/**
 * Name, kind and version as the manifest bytes CLAIM them, for reporting a refusal only (the fleet
 * wants to know which offer was refused even when its signatures failed). Never used to decide anything.
 */
export function claimedLabel(manifestBytes: Uint8Array): ReleaseLabel {
  try {
    const json = JSON.parse(Buffer.from(manifestBytes).toString("utf8")) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === "string" ? v.slice(0, 200) : "");
    const kind = (KINDS as readonly unknown[]).includes(json.kind) ? (json.kind as ReleaseKind) : "agent";
    return { name: str(json.name), kind, version: str(json.version) };
  } catch {
    return { name: "", kind: "agent", version: "" };
  }
}

export interface StatusFields {
  device: string;
  offerId: string;
  rolloutId?: string | null | undefined;
  label: ReleaseLabel;
  state: OtaStatusState;
  installedVersion: string | null;
  ts: number;
  progress?: { bytes: number; total: number };
  error?: { code: string; message: string } | null;
}

export function statusMessage(f: StatusFields): OtaStatus {
  const s: OtaStatus = {
    v: 1,
    device: f.device,
    offerId: f.offerId,
    name: f.label.name,
    kind: f.label.kind,
    version: f.label.version,
    state: f.state,
    installedVersion: f.installedVersion,
    ts: f.ts,
  };
  if (f.rolloutId) s.rolloutId = f.rolloutId;
  if (f.progress) s.progress = f.progress;
  if (f.error) s.error = { code: f.error.code, message: f.error.message };
  return s;
}

/** The status message for a persisted record (used by the supervisor after switching, committing, rolling back). */
export function statusOfRecord(device: string, record: UpdateRecord, installedVersion: string | null, ts: number): OtaStatus | null {
  if (!record.offerId || !record.release) return null;
  return statusMessage({ device, offerId: record.offerId, rolloutId: record.rolloutId, label: record.release, state: record.state, installedVersion, ts, error: record.error });
}
