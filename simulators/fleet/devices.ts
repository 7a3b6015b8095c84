/**
 * What the fleet knows about each device: online or not (from the retained `edge/{id}/state`), its
 * group (from provisioning or a rollout's group map) and the last OTA status it reported.
 */
import type { OtaStatus } from "./messages.js";

export interface DeviceRecord {
  id: string;
  /** undefined until a state message was seen. */
  online?: boolean;
  group?: string;
  lastStatus?: OtaStatus;
  /** Clock time of the last message from or about the device. */
  updatedAt: number;
}

export interface DeviceView {
  id: string;
  online: boolean | null;
  group: string | null;
  state: string | null;
  name: string | null;
  version: string | null;
  installedVersion: string | null;
  offerId: string | null;
  rolloutId: string | null;
  progress: { bytes: number; total: number } | null;
  error: { code: string; message: string } | null;
  updatedAt: string;
}

export class DeviceRegistry {
  private readonly devices = new Map<string, DeviceRecord>();

  constructor(private readonly clock: () => number) {}

  private touch(id: string): DeviceRecord {
    let d = this.devices.get(id);
    if (d === undefined) {
      d = { id, updatedAt: this.clock() };
      this.devices.set(id, d);
    }
    d.updatedAt = this.clock();
    return d;
  }

  /** Returns true when the online flag changed. */
  setOnline(id: string, online: boolean): boolean {
    const d = this.touch(id);
    const changed = d.online !== online;
    d.online = online;
    return changed;
  }

  setGroup(id: string, group: string): void {
    this.touch(id).group = group;
  }

  recordStatus(status: OtaStatus): void {
    this.touch(status.device).lastStatus = status;
  }

  get(id: string): DeviceRecord | undefined {
    return this.devices.get(id);
  }

  ids(): string[] {
    return [...this.devices.keys()].sort();
  }

  view(id: string): DeviceView | undefined {
    const d = this.devices.get(id);
    if (d === undefined) return undefined;
    const s = d.lastStatus;
    return {
      id: d.id,
      online: d.online ?? null,
      group: d.group ?? null,
      state: s?.state ?? null,
      name: s?.name ?? null,
      version: s?.version ?? null,
      installedVersion: s?.installedVersion ?? null,
      offerId: s?.offerId ?? null,
      rolloutId: s?.rolloutId ?? null,
      progress: s?.progress ?? null,
      error: s?.error ?? null,
      updatedAt: new Date(d.updatedAt).toISOString(),
    };
  }

  views(): DeviceView[] {
    return this.ids().map((id) => this.view(id)).filter((v): v is DeviceView => v !== undefined);
  }
}
