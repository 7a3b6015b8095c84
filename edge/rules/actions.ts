import type { Sample, SampleValue } from "../model.js";
import { errorMessage } from "../errors.js";
import type { AlarmBook, PointValues } from "./alarms.js";
import type { RuleEngineOptions } from "./engine-core.js";
import type { ActionTrigger, FiredAction } from "./events.js";
import type { CompiledAction } from "./rule.js";
import type { RuleState } from "./runtime-state.js";
import type { ValueTable } from "./values.js";
import { NUMERIC } from "../pipeline/point-writer.js";

export interface ActionContext {
  table(): ValueTable;
  alarms: AlarmBook;
  options: RuleEngineOptions;
  queueVirtual(sample: Sample): void;
  /** Asks tick() to look at this rule (a write was held back). */
  wake(state: RuleState): void;
}

/**
 * Carries out a rule's actions on a transition. Nothing here throws into the engine: a failing
 * callback or a refused write is recorded on the rule (lastError) and reported through onActionError.
 */
export class ActionRunner {
  constructor(private readonly cx: ActionContext) {}

  /** The values of the points the rule reads, as it reads them (stale = null). */
  values(s: RuleState): PointValues {
    const t = this.cx.table();
    const stale = s.rule.config.staleAfter ?? 0;
    const out: PointValues = {};
    for (const slot of s.rule.reads) {
      const v = t.read(slot, stale);
      out[t.ids[slot] as string] = v === undefined ? null : v;
    }
    return out;
  }

  run(s: RuleState, trigger: ActionTrigger, now: number): void {
    const actions = s.rule.actions;
    if (actions.length === 0) return;
    // "active" runs on every evaluation of an active rule: leave before allocating anything when no
    // action of the rule runs then (alarms never do).
    if (trigger === "active" && !s.runsWhileActive) return;
    let values: PointValues | null = null;
    const vals = () => (values ??= this.values(s));
    for (const a of actions) {
      try {
        this.one(s, a, trigger, now, vals);
      } catch (err) {
        this.fail(s, a.index, now, `${a.type} action failed: ${errorMessage(err)}`);
      }
    }
  }

  private one(s: RuleState, a: CompiledAction, trigger: ActionTrigger, now: number, vals: () => PointValues): void {
    const rule = s.id;
    const fire = (f: Omit<FiredAction, "ts" | "rule" | "trigger" | "values">) =>
      this.cx.options.onAction?.({ ts: now, rule, trigger, values: vals(), ...f });
    if (a.type === "alarm") {
      if (trigger === "raise") {
        const message = a.message();
        this.cx.alarms.raise(rule, a.severity, message, vals(), now);
        fire({ action: "alarm", message, severity: a.severity });
      } else if (trigger === "clear") {
        const cleared = this.cx.alarms.clear(rule, vals(), now);
        if (cleared) fire({ action: "alarm", message: cleared.message, severity: cleared.severity });
      }
      return;
    }
    if (a.on !== trigger) return;
    switch (a.type) {
      case "event": {
        const message = a.message ? a.message() : null;
        this.cx.options.onEvent?.({ rule, name: a.name, severity: a.severity, ts: now, trigger, message, values: vals() });
        fire({ action: "event", severity: a.severity, ...(message !== null ? { message } : {}) });
        return;
      }
      case "set": {
        const v = a.value();
        const sample: Sample =
          v === undefined
            ? { point: a.point, ts: now, value: null, quality: "bad", reason: `rule ${rule}: value is unknown` }
            : { point: a.point, ts: now, value: v, quality: "good" };
        this.cx.queueVirtual(sample);
        fire({ action: "set", point: a.point, value: sample.value });
        return;
      }
      case "write": {
        const v = a.value();
        if (v === undefined) {
          this.fail(s, a.index, now, `write to "${a.point}" skipped: its value is unknown`);
          return;
        }
        let value: SampleValue = v;
        let clampedFrom: number | undefined;
        // Limits make the point numeric: text (an int64 register read back, a string expression) is
        // read as its number and clamped like one, so a limit cannot be bypassed by the value's type;
        // text that is no number is refused here, with the reason, rather than by the device.
        const limited = a.lo > -Infinity || a.hi < Infinity;
        let n: number | null = typeof v === "number" ? v : null;
        if (typeof v === "string" && limited) {
          if (!NUMERIC.test(v)) {
            this.fail(s, a.index, now, `write ${JSON.stringify(v)} to "${a.point}" refused: not a number (the point has write limits)`);
            return;
          }
          n = Number(v);
          if (!Number.isFinite(n)) {
            this.fail(s, a.index, now, `write ${JSON.stringify(v)} to "${a.point}" refused: not a finite number`);
            return;
          }
        }
        if (n !== null) {
          const c = n < a.lo ? a.lo : n > a.hi ? a.hi : n;
          if (c !== n) clampedFrom = n;
          // Within the limits, text beyond 2^53 (an int64) keeps its exact digits: the number would round them.
          value = typeof v === "string" && c === n && !Number.isSafeInteger(n) && Number.isInteger(n) ? v : c;
        }
        const last = s.lastWrite.get(a.point);
        const gap = s.rule.config.minInterval;
        if (last !== undefined && now - last < gap) {
          // Held back, not dropped: the last value asked for is sent once the interval has passed.
          s.deferred.set(a.point, { value, due: last + gap, action: a.index });
          this.cx.wake(s);
          return;
        }
        s.deferred.delete(a.point);
        this.send(s, a.index, a.point, value, now, trigger, clampedFrom, undefined, vals());
        return;
      }
    }
  }

  /** Sends the held-back writes whose minInterval has passed. */
  flushDeferred(s: RuleState, now: number): void {
    for (const [point, d] of s.deferred) {
      if (d.due > now) continue;
      s.deferred.delete(point);
      this.send(s, d.action, point, d.value, now, "active", undefined, d.due - s.rule.config.minInterval, this.values(s));
    }
  }

  private send(
    s: RuleState,
    action: number,
    point: string,
    value: SampleValue,
    now: number,
    trigger: ActionTrigger,
    clampedFrom: number | undefined,
    deferredFrom: number | undefined,
    values: PointValues,
  ): void {
    s.lastWrite.set(point, now);
    this.cx.options.onAction?.({
      ts: now,
      rule: s.id,
      action: "write",
      trigger,
      point,
      value,
      values,
      ...(clampedFrom !== undefined ? { clampedFrom } : {}),
      ...(deferredFrom !== undefined ? { deferredFrom } : {}),
    });
    const write = this.cx.options.writePoint;
    if (!write) return;
    const failed = (err: unknown) => this.fail(s, action, now, `write ${JSON.stringify(value)} to "${point}" failed: ${errorMessage(err)}`);
    try {
      write(point, value).then(() => {
        // A write that works again clears the previous write failure from the rule's status.
        if (s.lastError?.startsWith("write")) s.lastError = null;
      }, failed);
    } catch (err) {
      failed(err);
    }
  }

  private fail(s: RuleState, action: number, ts: number, message: string): void {
    s.lastError = message;
    try {
      this.cx.options.onActionError?.({ rule: s.id, action, ts, message });
    } catch (err) {
      this.cx.options.logger?.error({ err: errorMessage(err) }, "onActionError threw");
    }
    this.cx.options.logger?.warn({ rule: s.id, action, err: message }, "rule action failed");
  }
}
