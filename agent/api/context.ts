import type { Logger } from "../../edge/logger.js";
import type { SampleValue } from "../../edge/model.js";
import type { DriverStatus } from "../../edge/drivers/driver.js";
import type { WriteResult } from "../../edge/pipeline/point-writer.js";
import type { AgentStatus } from "../runtime/status.js";
import type { PointView } from "../runtime/points.js";
import type { RulesService } from "../rules/service.js";
import type { LogLevelControl } from "../log.js";

/** A configured device with its driver's status (null when the driver could not start). */
export interface DeviceView {
  id: string;
  protocol: string;
  name: string | null;
  points: number;
  status: DriverStatus | null;
}

/** What the routes need of the running agent; the runtime provides it, tests can too. */
export interface ApiContext {
  logger: Logger;
  /** The agent's data folder: /metrics reports the free space of its file system. */
  dataDir: string;
  /** The process logger's level, changed at run time through PUT /log-level. */
  logLevel: LogLevelControl;
  status(): AgentStatus;
  points(): PointView[];
  devices(): DeviceView[];
  writePoint(id: string, value: SampleValue): Promise<WriteResult>;
  rules: Pick<RulesService, "list" | "get" | "create" | "replace" | "remove" | "setEnabled" | "reloadConfig" | "alarms" | "acknowledge">;
}
