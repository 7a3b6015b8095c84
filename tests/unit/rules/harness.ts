import type { Sample, SampleValue } from "../../../edge/model.js";
import { RuleEngine, type RuleEngineOptions } from "../../../edge/rules/engine.js";
import type { AlarmChange } from "../../../edge/rules/alarms.js";
import type { FiredAction, RuleActionError, RuleEvent } from "../../../edge/rules/events.js";
import type { RulePointInfo } from "../../../edge/rules/rule.js";
import type { RuleSetInput } from "../../../edge/rules/schema.js";
import { Compiler } from "../../../edge/rules/compile.js";
import { ValueTable, type Val } from "../../../edge/rules/values.js";

export const T0 = 1_700_000_000_000;

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public t = T0) {}
  readonly now = () => this.t;
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

export function good(point: string, value: SampleValue, ts: number): Sample {
  return { point, ts, value, quality: "good" };
}

export function bad(point: string, ts: number): Sample {
  return { point, ts, value: null, quality: "bad", reason: "timeout" };
}

/** Evaluates one expression against fixed point values (null = bad quality), at time T0. */
export function evaluate(source: string, values: Record<string, SampleValue | null> = {}): Val {
  const table = new ValueTable(Object.keys(values));
  for (const [id, v] of Object.entries(values)) {
    table.set(table.slots.get(id) as number, v === null ? bad(id, T0) : good(id, v, T0));
  }
  table.now = T0;
  return new Compiler({ table, histories: [], historyCap: 64, staleAfter: 0 }).expression(source).fn();
}

/** The error message compiling an expression gives (throws when it compiles). */
export function compileError(source: string, points: string[] = ["a", "b"]): string {
  const table = new ValueTable(points);
  try {
    new Compiler({ table, histories: [], historyCap: 64, staleAfter: 0 }).expression(source);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  throw new Error(`expected ${JSON.stringify(source)} to be refused`);
}

export interface Harness {
  engine: RuleEngine;
  clock: ManualClock;
  fired: FiredAction[];
  alarms: AlarmChange[];
  events: RuleEvent[];
  errors: RuleActionError[];
  virtual: Sample[];
  writes: Array<{ point: string; value: SampleValue; at: number }>;
  /** Feeds good samples stamped with the clock's time. */
  feed(values: Record<string, SampleValue | null>): void;
  /** Advances the clock and ticks. */
  wait(ms: number): void;
  state(rule: string): string | undefined;
}

export function points(...ids: string[]): RulePointInfo[] {
  return ids.map((id) => ({ id }));
}

export function harness(ruleSet: RuleSetInput, pts: RulePointInfo[], options: Partial<RuleEngineOptions> = {}): Harness {
  const clock = new ManualClock();
  const h: Omit<Harness, "engine"> & { engine?: RuleEngine } = {
    clock,
    fired: [],
    alarms: [],
    events: [],
    errors: [],
    virtual: [],
    writes: [],
    feed(values) {
      h.engine?.onSamples(Object.entries(values).map(([id, v]) => (v === null ? bad(id, clock.t) : good(id, v, clock.t))));
    },
    wait(ms) {
      h.engine?.tick(clock.advance(ms));
    },
    state(rule) {
      return h.engine?.get(rule)?.state;
    },
  };
  const engine = new RuleEngine({
    points: pts,
    clock: clock.now,
    onAction: (f) => h.fired.push(f),
    onAlarm: (c) => h.alarms.push(c),
    onEvent: (e) => h.events.push(e),
    onActionError: (e) => h.errors.push(e),
    onVirtualSamples: (s) => h.virtual.push(...s),
    writePoint: async (point, value) => {
      h.writes.push({ point, value, at: clock.t });
    },
    ...options,
  });
  engine.load(ruleSet);
  h.engine = engine;
  return h as Harness;
}
