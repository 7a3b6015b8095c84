import type { SampleValue } from "../model.js";
import type { PointValues } from "./alarms.js";
import type { Severity } from "./schema.js";

/** Why an action ran: the rule became active, cleared, or is evaluated while active. */
export type ActionTrigger = "raise" | "clear" | "active";

/** An event action's output (the runtime publishes it on the events topic through the outbox). */
export interface RuleEvent {
  rule: string;
  name: string;
  severity: Severity;
  ts: number;
  trigger: ActionTrigger;
  message: string | null;
  values: PointValues;
}

/** Every action the engine carries out, as a record (dry runs return these; the runtime may log them). */
export interface FiredAction {
  ts: number;
  rule: string;
  /** alarm = raised or cleared an alarm (see trigger); write = sent to writePoint; set = virtual point sample. */
  action: "alarm" | "write" | "set" | "event";
  trigger: ActionTrigger;
  point?: string;
  value?: SampleValue | null;
  /** A write whose value was limited by writeMin/writeMax or the action's min/max: the value asked for. */
  clampedFrom?: number;
  /** A write sent later than asked because of minInterval: when it was asked for. */
  deferredFrom?: number;
  message?: string;
  severity?: Severity;
  /** The values of the points the rule reads (null = Unknown). */
  values: PointValues;
}

/** A failed or skipped action: reported, never thrown, so one rule cannot stop the others. */
export interface RuleActionError {
  rule: string;
  action: number;
  ts: number;
  message: string;
}
