import type { SampleValue } from "../model.js";
import { EdgeError } from "../errors.js";
import type { Severity } from "./schema.js";

/**
 * Alarm lifecycle (after ISA-18.2, simplified): a rule raising opens an alarm in `active`; an operator
 * acknowledging it moves it to `acknowledged`; the rule clearing moves it to `cleared` when it had
 * been acknowledged, else to `cleared-unacknowledged`, which an acknowledgement then closes as
 * `cleared`. A rule raising again while its last alarm waits for acknowledgement opens a new alarm.
 */
export type AlarmState = "active" | "acknowledged" | "cleared-unacknowledged" | "cleared";

export type PointValues = Record<string, SampleValue | null>;

export interface Alarm {
  id: number;
  rule: string;
  severity: Severity;
  state: AlarmState;
  message: string;
  raisedAt: number;
  ackAt: number | null;
  ackBy: string | null;
  clearedAt: number | null;
  /** The values of the points the rule reads, when it raised (null = Unknown). */
  values: PointValues;
  /** The same, when it cleared. */
  clearValues: PointValues | null;
  /**
   * Why it cleared when the rule's own condition did not clear it ("rule removed", "rule disabled");
   * null when the rule cleared it, or while it has not cleared.
   */
  clearReason: string | null;
}

export type AlarmChangeKind = "raised" | "acknowledged" | "cleared";

/** What the engine reports on every alarm change (the runtime stores it in the outbox as kind "alarm"). */
export interface AlarmChange {
  change: AlarmChangeKind;
  /** The alarm after the change. */
  alarm: Alarm;
}

/** Where alarms live; the SQLite one keeps them across restarts. Methods are synchronous (better-sqlite3). */
export interface AlarmStore {
  insert(alarm: Omit<Alarm, "id">): Alarm;
  update(alarm: Alarm): void;
  get(id: number): Alarm | undefined;
  /** Every alarm not yet closed (state other than `cleared`), oldest first. */
  open(): Alarm[];
  /** The newest alarms, any state, newest first. */
  recent(limit: number): Alarm[];
}

/** Alarms in memory only: for dry runs and tests; lost on restart. */
export class MemoryAlarmStore implements AlarmStore {
  private readonly rows = new Map<number, Alarm>();
  private next = 1;

  insert(alarm: Omit<Alarm, "id">): Alarm {
    const row = { ...alarm, id: this.next++ };
    this.rows.set(row.id, row);
    return { ...row };
  }

  update(alarm: Alarm): void {
    this.rows.set(alarm.id, { ...alarm });
  }

  get(id: number): Alarm | undefined {
    const a = this.rows.get(id);
    return a ? { ...a } : undefined;
  }

  open(): Alarm[] {
    return [...this.rows.values()].filter((a) => a.state !== "cleared").map((a) => ({ ...a }));
  }

  recent(limit: number): Alarm[] {
    return [...this.rows.values()].reverse().slice(0, limit).map((a) => ({ ...a }));
  }
}

/** The lifecycle on top of a store: one open (active or acknowledged) alarm per rule at most. */
export class AlarmBook {
  /** The active/acknowledged alarm of each rule. */
  private readonly live = new Map<string, Alarm>();

  constructor(
    private readonly store: AlarmStore,
    private readonly notify: (change: AlarmChange) => void,
  ) {
    for (const a of store.open()) if (a.state === "active" || a.state === "acknowledged") this.live.set(a.rule, a);
  }

  /** Whether the rule has an alarm that has not cleared (restarts resume such a rule as active). */
  isLive(rule: string): boolean {
    return this.live.has(rule);
  }

  raise(rule: string, severity: Severity, message: string, values: PointValues, now: number): Alarm {
    const existing = this.live.get(rule);
    if (existing) return existing;
    const alarm = this.store.insert({
      rule,
      severity,
      state: "active",
      message,
      raisedAt: now,
      ackAt: null,
      ackBy: null,
      clearedAt: null,
      values,
      clearValues: null,
      clearReason: null,
    });
    this.live.set(rule, alarm);
    this.notify({ change: "raised", alarm: { ...alarm } });
    return alarm;
  }

  /** The rules that have a live (active or acknowledged) alarm. */
  liveRules(): string[] {
    return [...this.live.keys()];
  }

  /** Clears the rule's live alarm; `reason` says why when it is not the rule's own condition. */
  clear(rule: string, values: PointValues | null, now: number, reason: string | null = null): Alarm | undefined {
    const alarm = this.live.get(rule);
    if (!alarm) return undefined;
    this.live.delete(rule);
    alarm.state = alarm.state === "acknowledged" ? "cleared" : "cleared-unacknowledged";
    alarm.clearedAt = now;
    alarm.clearValues = values;
    alarm.clearReason = reason;
    this.store.update(alarm);
    this.notify({ change: "cleared", alarm: { ...alarm } });
    return alarm;
  }

  acknowledge(id: number, by: string | null, now: number): Alarm {
    const alarm = [...this.live.values()].find((a) => a.id === id) ?? this.store.get(id);
    if (!alarm) throw new EdgeError("ALARM_UNKNOWN", `no alarm ${id}`);
    if (alarm.state === "acknowledged" || alarm.state === "cleared") {
      throw new EdgeError("ALARM_STATE", `alarm ${id} is already acknowledged (state ${alarm.state})`);
    }
    alarm.state = alarm.state === "active" ? "acknowledged" : "cleared";
    alarm.ackAt = now;
    alarm.ackBy = by;
    this.store.update(alarm);
    this.notify({ change: "acknowledged", alarm: { ...alarm } });
    return { ...alarm };
  }

  open(): Alarm[] {
    return this.store.open();
  }
}
