import type { NewRecord } from "../../edge/store/outbox.js";
import type { AlarmChange, RuleEvent } from "../../edge/rules/index.js";

/**
 * Outbox records for rule output, in the same `{type, ts, ...}` shape as the store's own events:
 * alarm changes go to the alarms topic (type alarm.raised / alarm.acknowledged / alarm.cleared, with
 * the whole alarm after the change), rule events to the events topic (type rule.event).
 */
export function alarmRecord(change: AlarmChange, now: number): NewRecord {
  const a = change.alarm;
  const ts = change.change === "raised" ? a.raisedAt : change.change === "cleared" ? (a.clearedAt ?? now) : (a.ackAt ?? now);
  return { ts, json: JSON.stringify({ type: `alarm.${change.change}`, ts, alarm: a }) };
}

export function eventRecord(event: RuleEvent): NewRecord {
  return { ts: event.ts, json: JSON.stringify({ type: "rule.event", ...event }) };
}
