import type { Logger } from "../../edge/logger.js";
import type { Clock, SampleValue } from "../../edge/model.js";
import type { Pipeline } from "../../edge/pipeline/pipeline.js";
import type { SqliteOutbox } from "../../edge/store/sqlite-outbox.js";
import type { StoreWriter } from "../../edge/store/store-writer.js";
import type { AgentConfig } from "../config/schema.js";
import { RulesService } from "../rules/service.js";
import { rulePointsOf } from "../rules/points.js";
import { alarmRecord, eventRecord } from "../rules/records.js";
import { readConfigRules } from "../rules/config-reader.js";
import type { Component } from "./component.js";

export interface RulesComponentDeps {
  config: AgentConfig;
  /** The file the config came from: POST /rules/reload and cmd/reload-rules re-read it. */
  configFile: string | undefined;
  logger: Logger;
  clock: Clock;
  outbox: () => SqliteOutbox;
  writer: () => StoreWriter;
  pipeline: () => Pipeline;
  /** The runtime's PointWriter (looked up at each write: it is built once the drivers started). */
  writePoint: (id: string, value: SampleValue) => Promise<unknown>;
  onStarted: (service: RulesService | null) => void;
}

/**
 * The rules between the pipeline and the API: started after the store (alarms and API rules live in
 * its database) and before the drivers (so the first readings are evaluated). Alarm changes and
 * events go through the StoreWriter, which holds them in memory while the disk refuses writes.
 */
export function rulesComponent(d: RulesComponentDeps): Component {
  const log = d.logger.child({ component: "rules" });
  let service: RulesService | null = null;
  return {
    name: "rules",
    start: async () => {
      const writer = d.writer();
      const pipeline = d.pipeline();
      const file = d.configFile;
      service = new RulesService({
        db: d.outbox().database,
        points: rulePointsOf(d.config.devices),
        configRules: { virtualPoints: d.config.virtualPoints, rules: d.config.rules },
        ...(file ? { readConfigRules: () => readConfigRules(file) } : {}),
        writePoint: d.writePoint,
        onAlarm: (change) => {
          log.info({ alarm: change.alarm.id, rule: change.alarm.rule, change: change.change, severity: change.alarm.severity }, `alarm ${change.change}`);
          writer.append("alarm", [alarmRecord(change, d.clock())]);
        },
        onEvent: (event) => writer.append("event", [eventRecord(event)]),
        onVirtualSamples: (samples) => pipeline.processDerived(samples),
        onVirtualPoints: (ids) => pipeline.setDerivedPoints(ids),
        logger: log,
        clock: d.clock,
      });
      // Before start(): loads the rule schemas (zod) only if there are rules to validate.
      await service.prepare();
      service.start();
      const stats = service.stats();
      log.info({ rules: stats.rules, openAlarms: stats.alarmsUnacknowledged }, "rules loaded");
      d.onStarted(service);
    },
    stop: () => {
      service?.stop();
      d.onStarted(null);
    },
  };
}
