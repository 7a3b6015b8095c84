import type { DriverStatus } from "../../edge/drivers/driver.js";
import type { OutboxStats } from "../../edge/store/outbox.js";
import type { StoreWriterStatus } from "../../edge/store/store-writer.js";
import type { UpdaterStatus } from "../ota/updater.js";
import type { UplinkStatus } from "../../edge/uplink/mqtt-uplink.js";
import type { PipelineCounters } from "../../edge/pipeline/pipeline.js";
import type { RulesStats } from "../rules/service.js";

/** What GET /status returns: the agent at a glance. */
export interface AgentStatus {
  version: string;
  deviceId: string;
  /** The agent's process id (for a supervisor or an operator with `kill`). */
  pid: number;
  startedAt: string;
  uptimeS: number;
  drivers: DriverStatus[];
  outbox: OutboxStats;
  /** Whether the disk takes writes; while it does not, records wait in a bounded memory buffer. */
  store: StoreWriterStatus;
  /** The OTA client's state; null when OTA is not enabled. */
  ota: UpdaterStatus | null;
  /** null when no broker is configured (data is only stored). */
  uplink: UplinkStatus | null;
  pipeline: PipelineCounters;
  rules: RulesStats;
  /** Fleet commands received and answered; null when the command channel is off. */
  commands: { received: number; ok: number; failed: number } | null;
}
