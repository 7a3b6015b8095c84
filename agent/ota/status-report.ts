import { InstallLayout } from "./installer.js";
import { KINDS, type ReleaseKind } from "./manifest.js";
import { StateStore, idleRecord, type UpdateRecord } from "./state.js";
import { StatusQueue } from "./status-queue.js";
import { VersionFloor } from "./version-floor.js";

/** What `edge-agent ota status` prints: read-only, usable while the agent and supervisor run. */
export interface OtaStatusReport {
  installRoot: string;
  state: UpdateRecord["state"];
  offerId: string | null;
  rolloutId: string | null;
  release: UpdateRecord["release"];
  fromVersion: string | null;
  error: UpdateRecord["error"];
  entries: UpdateRecord["entries"];
  updatedAt: string;
  installed: Record<ReleaseKind, string | null>;
  previous: Record<ReleaseKind, string | null>;
  floor: Record<ReleaseKind, string | null>;
  pendingReports: number;
}

export function otaStatusReport(installRoot: string): OtaStatusReport {
  const layout = new InstallLayout(installRoot);
  const r = StateStore.read(layout.stateFile) ?? idleRecord(new Date(0));
  const floor = VersionFloor.open(layout.floorFile);
  const byKind = (f: (k: ReleaseKind) => string | null) => Object.fromEntries(KINDS.map((k) => [k, f(k)])) as Record<ReleaseKind, string | null>;
  return {
    installRoot,
    state: r.state,
    offerId: r.offerId,
    rolloutId: r.rolloutId,
    release: r.release,
    fromVersion: r.fromVersion,
    error: r.error,
    entries: r.entries,
    updatedAt: r.updatedAt,
    installed: byKind((k) => layout.currentVersion(k)),
    previous: byKind((k) => layout.previousVersion(k)),
    floor: byKind((k) => floor.get(k)),
    pendingReports: new StatusQueue(layout.outboxDir).pending().length,
  };
}
