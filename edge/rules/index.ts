/** The local rules engine: the public surface the runtime, API and CLI use. */
export { RuleEngine, RuleSetError, type RuleEngineOptions, type LoadOptions, type RuleEngineStats } from "./engine.js";
export { dryRun, type DryRunOptions, type DryRunResult } from "./dry-run.js";
export {
  ruleSchema,
  rulesConfigSchema,
  ruleSetSchema,
  virtualPointSchema,
  virtualPointsSchema,
  actionSchema,
  severitySchema,
  type RuleConfig,
  type RuleInput,
  type RuleSet,
  type RuleSetInput,
  type RuleAction,
  type Severity,
  type VirtualPointConfig,
} from "./schema.js";
export { MemoryAlarmStore, type Alarm, type AlarmChange, type AlarmChangeKind, type AlarmState, type AlarmStore, type PointValues } from "./alarms.js";
export { SqliteAlarmStore, DEFAULT_ALARM_RETENTION, type AlarmRetention, type SqliteAlarmStoreOptions } from "./sqlite-alarm-store.js";
export type { RulePointInfo, RuleSource } from "./rule.js";
export type { RuleStatus, RulePhase } from "./runtime-state.js";
export type { FiredAction, RuleActionError, RuleEvent, ActionTrigger } from "./events.js";
export { parseDuration, durationSchema } from "./duration.js";
