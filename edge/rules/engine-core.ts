import type { Clock, Sample, SampleSink, SampleValue } from "../model.js";
import { systemClock } from "../model.js";
import type { Logger } from "../logger.js";
import { EdgeError, errorMessage } from "../errors.js";
import { AlarmBook, MemoryAlarmStore, type Alarm, type AlarmChange, type AlarmStore, type PointValues } from "./alarms.js";
import type { History } from "./history.js";
import { compileRule, type CompiledRule, type RulePointInfo, type RuleSource } from "./rule.js";
import type { RuleSetInput, VirtualPointConfig } from "./schema.js";
// Not schema.ts itself: it is zod (~12 MB resident), which an agent without rules never needs in its
// main thread. An empty set is parsed without it; anything else uses the schema loaded by then
// (engine.ts loads it; the agent's rules service awaits agent/rules/load-schemas.ts).
import { emptyRuleSet, requireRuleSchemas } from "./schema-loader.js";
import { RuleState, phaseOf, type RuleStatus } from "./runtime-state.js";
import { ActionRunner } from "./actions.js";
import type { FiredAction, RuleActionError, RuleEvent } from "./events.js";
import { Kind, ValueTable } from "./values.js";
import { evalNative } from "./native.js";

export interface RuleEngineOptions {
  /** Every device point (the set references are checked against), with write limits. */
  points: readonly RulePointInfo[];
  /** Time of evaluations, `for` timers, staleness and windows. Default: the system clock. */
  clock?: Clock;
  /** Sends a write action to a device (the runtime's PointWriter). Rejections are reported, not thrown. */
  writePoint?: (pointId: string, value: SampleValue) => Promise<void>;
  /** Every alarm change (raised, acknowledged, cleared): the runtime stores it in the outbox with priority. */
  onAlarm?: (change: AlarmChange) => void;
  /** Event actions. */
  onEvent?: (event: RuleEvent) => void;
  /** Samples of virtual points set by rules, one call per evaluation round: the runtime stores them. */
  onVirtualSamples?: SampleSink;
  /** Failed or skipped actions (write refused by the device, value Unknown, callback threw). */
  onActionError?: (error: RuleActionError) => void;
  /** Every action carried out, for logs and dry runs. */
  onAction?: (fired: FiredAction) => void;
  /** Where alarms live; default in memory (lost on restart): the runtime passes a SqliteAlarmStore. */
  alarmStore?: AlarmStore;
  logger?: Logger;
  /** Most samples kept per point for window functions. Default 4096. */
  historyCapacity?: number;
}

export interface LoadOptions {
  /** Where each rule came from; a rule not in the map is "config". */
  sources?: ReadonlyMap<string, RuleSource>;
}

/** A rule set that did not compile: every problem, one per line, and the old set still running. */
export class RuleSetError extends EdgeError {
  constructor(readonly problems: readonly string[]) {
    super("RULES_INVALID", `the rule set was refused (${problems.length} problem${problems.length === 1 ? "" : "s"}); the previous rules keep running:\n  ${problems.join("\n  ")}`);
    this.name = "RuleSetError";
  }
}

export interface RuleEngineStats {
  rules: number;
  evaluations: number;
  samples: number;
  /** Samples of points the engine does not know (not configured and not virtual). */
  unknownPoints: number;
  /** Evaluation rounds cut because rules kept setting virtual points that re-trigger each other. */
  cascadeCutoffs: number;
}

/** One compiled rule set over one value table; load() builds a new one and swaps it in whole. */
export interface Program {
  table: ValueTable;
  histories: Array<History | undefined>;
  states: RuleState[];
  byId: Map<string, RuleState>;
  /** Per slot: indexes of the rules that read it. */
  deps: Int32Array[];
  /** Per slot: the subset that must see every sample, changed or not (windows, delta, staleAfter). */
  everySample: Int32Array[];
  /** Rules that passing time alone can change (windows, staleAfter): re-evaluated by tick(). */
  timeRules: RuleState[];
  virtualPoints: VirtualPointConfig[];
  mark: Uint32Array;
  dirty: Int32Array;
  /** Slots of recent batches by their first point id (see slotsOf); dropped with the program. */
  shapes: Map<string, BatchShape>;
}

/**
 * The point ids of a batch and their slots. Drivers send the same points in the same order poll after
 * poll, so a batch's slots are found by comparing ids with the previous batch of that shape (a pointer
 * comparison when the driver reuses its id strings) instead of one hash lookup per sample.
 */
interface BatchShape {
  ids: string[];
  /** -1: a point the engine does not know. */
  slots: Int32Array;
}

/** More shapes than this (batches of ever-changing make-up) and the cache starts over. */
const MAX_SHAPES = 4096;

const EMPTY = new Int32Array(0);
/** Rounds of rules setting virtual points that other rules read, before the engine calls it a loop. */
const MAX_ROUNDS = 8;

/**
 * The local rules engine. Samples update a table of current values; only the rules that read a
 * changed point are evaluated, through closures compiled once at load. Time enters only through the
 * injected clock and tick(): the engine has no timers of its own.
 */
export class RuleEngine {
  private program: Program;
  private readonly clock: Clock;
  private readonly points: ReadonlyMap<string, RulePointInfo>;
  private readonly alarmBook: AlarmBook;
  private readonly actions: ActionRunner;
  private stamp = 0;
  private readonly counters = { evaluations: 0, samples: 0, unknownPoints: 0, cascadeCutoffs: 0 };
  /** Rules with a for/clearFor timer running or a write held back: tick() must look at them. */
  private readonly timed = new Set<RuleState>();
  private virtualQueue: Sample[] = [];

  constructor(private readonly options: RuleEngineOptions) {
    this.clock = options.clock ?? systemClock;
    this.points = new Map(options.points.map((p) => [p.id, p]));
    this.alarmBook = new AlarmBook(options.alarmStore ?? new MemoryAlarmStore(), (change) => this.report(() => options.onAlarm?.(change)));
    this.actions = new ActionRunner({
      table: () => this.program.table,
      alarms: this.alarmBook,
      options,
      queueVirtual: (s) => this.virtualQueue.push(s),
      wake: (s) => this.timed.add(s),
    });
    this.program = this.build({ virtualPoints: [], rules: [] }, new Map(), []);
  }

  /**
   * Compiles a whole rule set and swaps it in. Any problem (schema, expression, unknown point,
   * unwritable target) throws a RuleSetError listing all of them, and the running set stays.
   */
  load(ruleSet: RuleSetInput, options: LoadOptions = {}): { rules: number; virtualPoints: number } {
    const empty = emptyRuleSet(ruleSet);
    const parsed = empty ? { success: true as const, data: empty } : requireRuleSchemas().ruleSetSchema.safeParse(ruleSet);
    if (!parsed.success) {
      throw new RuleSetError(parsed.error.issues.map((i) => `${i.path.length ? i.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("").replace(/^\./, "") : "rule set"}: ${i.message}`));
    }
    const problems: string[] = [];
    for (const v of parsed.data.virtualPoints) {
      if (this.points.has(v.id)) problems.push(`virtual point "${v.id}": a device point has this id`);
    }
    const seen = new Set<string>();
    for (const v of parsed.data.virtualPoints) {
      if (seen.has(v.id)) problems.push(`virtual point "${v.id}": declared twice`);
      seen.add(v.id);
    }
    const next = this.build(parsed.data, options.sources ?? new Map(), problems);
    if (problems.length > 0) throw new RuleSetError(problems);
    this.swap(next);
    return { rules: next.states.length, virtualPoints: next.virtualPoints.length };
  }

  private build(set: { virtualPoints: VirtualPointConfig[]; rules: CompiledRule["config"][] }, sources: ReadonlyMap<string, RuleSource>, problems: string[]): Program {
    const ids = [...this.points.keys(), ...set.virtualPoints.map((v) => v.id).filter((id) => !this.points.has(id))];
    const table = new ValueTable(ids);
    const histories: Array<History | undefined> = new Array<History | undefined>(ids.length);
    const old = this.program as Program | undefined;
    if (old) {
      // Current values and histories carry over, so a reload does not forget what the plant is doing.
      for (let slot = 0; slot < ids.length; slot++) {
        const from = old.table.slots.get(ids[slot] as string);
        if (from === undefined) continue;
        copySlot(old.table, from, table, slot);
        histories[slot] = old.histories[from];
      }
    }
    const virtual = new Set(set.virtualPoints.map((v) => v.id));
    const cx = { table, histories, historyCap: this.options.historyCapacity ?? 4096, staleAfter: 0, points: this.points, virtual };
    const states: RuleState[] = [];
    for (const config of set.rules) {
      const compiled = compileRule(config, cx, problems);
      if (compiled) states.push(new RuleState(states.length, compiled, sources.get(config.id) ?? "config", JSON.stringify(config)));
    }
    // Histories nobody windows over any more are dropped with the old program.
    const deps: number[][] = ids.map(() => []);
    const every: number[][] = ids.map(() => []);
    for (const s of states) {
      const all = s.rule.timeDependent || (s.rule.config.staleAfter ?? 0) > 0;
      for (const slot of s.rule.reads) {
        deps[slot]?.push(s.index);
        if (all) every[slot]?.push(s.index);
      }
    }
    return {
      table,
      histories,
      states,
      byId: new Map(states.map((s) => [s.id, s])),
      deps: deps.map((d) => (d.length ? Int32Array.from(d) : EMPTY)),
      everySample: every.map((d) => (d.length ? Int32Array.from(d) : EMPTY)),
      timeRules: states.filter((s) => s.rule.timeDependent || (s.rule.config.staleAfter ?? 0) > 0),
      virtualPoints: set.virtualPoints,
      mark: new Uint32Array(states.length),
      dirty: new Int32Array(states.length),
      shapes: new Map(),
    };
  }

  private swap(next: Program): void {
    const old = this.program;
    const now = this.clock();
    this.timed.clear();
    for (const s of next.states) {
      const prev = old.byId.get(s.id);
      if (prev && prev.fingerprint === s.fingerprint) s.adopt(prev);
      // A changed or new rule whose alarm is still up resumes active, so it clears that alarm
      // instead of raising a second one (also how state survives a restart).
      else if (this.alarmBook.isLive(s.id)) s.active = true;
      if (!Number.isNaN(s.pendingSince) || !Number.isNaN(s.clearPendingSince) || s.deferred.size > 0) this.timed.add(s);
    }
    // A rule not in the new set can never clear its alarm: clear it now rather than leave it up
    // forever. Checked against the live alarms, not the previous set: on the first load the previous
    // set is empty while the store has brought back the alarms of a rule deleted from the config
    // while the agent was down.
    for (const rule of this.alarmBook.liveRules()) if (!next.byId.has(rule)) this.alarmBook.clear(rule, null, now, "rule removed");
    this.program = next;
    next.table.now = now;
    // Every rule is evaluated once on load: its state then matches the values already known.
    for (const s of next.states) if (s.enabled) this.evaluate(s, now);
    this.drainVirtual(now);
  }

  /** Feeds samples (after the pipeline scaled them); re-evaluates only the rules that read a changed point. */
  onSamples(samples: readonly Sample[]): void {
    const p = this.program;
    const now = this.clock();
    p.table.now = now;
    this.counters.samples += samples.length;
    this.apply(p, samples);
    this.runDirty(p, now);
    this.drainVirtual(now);
  }

  /**
   * Advances time without a sample: fires `for`/`clearFor` timers that elapsed, re-evaluates rules
   * whose windows or staleness depend on time, and sends writes minInterval held back. The runtime
   * calls it periodically (e.g. every 250 ms) or at nextDeadline().
   */
  tick(now: number = this.clock()): void {
    const p = this.program;
    p.table.now = now;
    const stamp = this.nextStamp(p);
    let n = 0;
    const add = (s: RuleState) => {
      if (p.mark[s.index] === stamp) return;
      p.mark[s.index] = stamp;
      p.dirty[n++] = s.index;
    };
    for (const s of this.timed) {
      if (s.deferred.size > 0) this.actions.flushDeferred(s, now);
      if (!Number.isNaN(s.pendingSince) || !Number.isNaN(s.clearPendingSince)) add(s);
      else if (s.deferred.size === 0) this.timed.delete(s);
    }
    for (const s of p.timeRules) add(s);
    for (let i = 0; i < n; i++) {
      const s = p.states[p.dirty[i] as number] as RuleState;
      if (s.enabled) this.evaluate(s, now);
    }
    this.drainVirtual(now);
  }

  /** The earliest time a timer or held-back write is due (null when none): for a precise tick. */
  nextDeadline(): number | null {
    let best = Infinity;
    for (const s of this.timed) {
      const f = s.forMs;
      const c = s.clearForMs;
      if (!Number.isNaN(s.pendingSince)) best = Math.min(best, s.pendingSince + f);
      if (!Number.isNaN(s.clearPendingSince)) best = Math.min(best, s.clearPendingSince + c);
      for (const d of s.deferred.values()) best = Math.min(best, d.due);
    }
    return best === Infinity ? null : best;
  }

  /** Whether any loaded rule depends on time alone (windows, staleAfter): those want a periodic tick. */
  hasTimeRules(): boolean {
    return this.program.timeRules.length > 0;
  }

  private nextStamp(p: Program): number {
    if (++this.stamp === 0xffffffff) {
      p.mark.fill(0);
      this.stamp = 1;
    }
    return this.stamp;
  }

  /** The cached shape for a batch (created or resized as needed); its entries are checked per sample by apply(). */
  private shapeOf(p: Program, samples: readonly Sample[]): BatchShape {
    const len = samples.length;
    const first = (samples[0] as Sample).point;
    let shape = p.shapes.get(first);
    if (shape === undefined || shape.ids.length !== len) {
      if (p.shapes.size >= MAX_SHAPES) p.shapes.clear();
      shape = { ids: new Array<string>(len).fill(""), slots: new Int32Array(len) };
      p.shapes.set(first, shape);
    }
    return shape;
  }

  private apply(p: Program, samples: readonly Sample[]): void {
    this.dirtyCount = 0;
    const len = samples.length;
    if (len === 0) return;
    const { table, histories, deps, everySample, mark, dirty } = p;
    const stamp = this.nextStamp(p);
    const shape = this.shapeOf(p, samples);
    const ids = shape.ids;
    const slots = shape.slots;
    let n = 0;
    for (let i = 0; i < len; i++) {
      const s = samples[i] as Sample;
      const id = s.point;
      let slot: number;
      if (ids[i] === id) slot = slots[i] as number;
      else {
        // A batch of another make-up than the last one of this shape: look up and remember.
        const found = table.slots.get(id);
        slot = found === undefined ? -1 : found;
        ids[i] = id;
        slots[i] = slot;
      }
      if (slot < 0) {
        this.counters.unknownPoints++;
        continue;
      }
      const changed = table.set(slot, s);
      const h = histories[slot];
      if (h !== undefined && table.kind[slot] !== Kind.NONE) {
        const v = table.num[slot] as number;
        if (!Number.isNaN(v)) h.push(s.ts, v);
      }
      const list = changed ? (deps[slot] as Int32Array) : (everySample[slot] as Int32Array);
      for (let j = 0; j < list.length; j++) {
        const r = list[j] as number;
        if (mark[r] !== stamp) {
          mark[r] = stamp;
          dirty[n++] = r;
        }
      }
    }
    this.dirtyCount = n;
  }

  private dirtyCount = 0;

  private runDirty(p: Program, now: number): void {
    const n = this.dirtyCount;
    this.dirtyCount = 0;
    const { dirty, states } = p;
    for (let i = 0; i < n; i++) {
      const s = states[dirty[i] as number] as RuleState;
      if (s.enabled) this.evaluate(s, now);
    }
  }

  /** Virtual point samples set by this round's actions: stored, emitted, and fed to the rules reading them. */
  private drainVirtual(now: number): void {
    for (let round = 0; this.virtualQueue.length > 0; round++) {
      const batch = this.virtualQueue;
      this.virtualQueue = [];
      this.report(() => this.options.onVirtualSamples?.(batch));
      const p = this.program;
      // The table always holds what was emitted, even when the round is cut.
      this.apply(p, batch);
      if (round >= MAX_ROUNDS) {
        this.dirtyCount = 0;
        this.counters.cascadeCutoffs++;
        this.options.logger?.warn({ points: [...new Set(batch.map((s) => s.point))] }, "rules keep setting virtual points that re-trigger each other; stopped this round");
        continue;
      }
      this.runDirty(p, now);
    }
  }

  /** Evaluates one rule and moves its state machine (see README: for, clear, clearFor, onUnknown). */
  private evaluate(s: RuleState, now: number): void {
    s.evaluations++;
    this.counters.evaluations++;
    s.lastEvaluated = now;
    const rule = s.rule;
    if (!s.active) {
      const c = evalNative(rule.when);
      const v = c === 1 ? true : c === 0 ? false : undefined;
      s.lastCondition = v;
      const holds = v !== undefined ? v : s.unknownAs;
      if (holds === true) {
        const forMs = s.forMs;
        if (forMs > 0) {
          if (Number.isNaN(s.pendingSince)) {
            s.pendingSince = now;
            this.timed.add(s);
          }
          if (now - s.pendingSince < forMs) return;
        }
        s.pendingSince = Number.NaN;
        s.active = true;
        s.since = now;
        this.actions.run(s, "raise", now);
        // The raising evaluation is the first one "while active" too.
        this.actions.run(s, "active", now);
        return;
      }
      // False, or Unknown under hold: a `for` in progress starts over (it was not seen to hold throughout).
      s.pendingSince = Number.NaN;
      return;
    }
    // Unknown counted as false clears; counted as true keeps; hold keeps.
    const unknownClears = s.unknownAs === undefined ? undefined : !s.unknownAs;
    let clears: boolean | undefined;
    if (rule.clear) {
      const c = evalNative(rule.clear);
      const v = c === 1 ? true : c === 0 ? false : undefined;
      s.lastCondition = v;
      clears = v !== undefined ? v : unknownClears;
    } else {
      const c = evalNative(rule.when);
      const v = c === 1 ? true : c === 0 ? false : undefined;
      s.lastCondition = v;
      clears = v !== undefined ? !v : unknownClears;
    }
    if (clears === true) {
      const clearFor = s.clearForMs;
      if (clearFor > 0) {
        if (Number.isNaN(s.clearPendingSince)) {
          s.clearPendingSince = now;
          this.timed.add(s);
        }
        if (now - s.clearPendingSince < clearFor) return;
      }
      s.clearPendingSince = Number.NaN;
      s.active = false;
      s.since = now;
      this.actions.run(s, "clear", now);
      return;
    }
    s.clearPendingSince = Number.NaN;
    this.actions.run(s, "active", now);
  }

  /** Enables or disables a rule; disabling clears its alarm (a rule that is not evaluated cannot clear it later). */
  setEnabled(ruleId: string, enabled: boolean): RuleStatus {
    const s = this.program.byId.get(ruleId);
    if (!s) throw new EdgeError("RULE_UNKNOWN", `no rule "${ruleId}"`);
    if (s.enabled === enabled) return this.status(s);
    const now = this.clock();
    s.enabled = enabled;
    s.pendingSince = Number.NaN;
    s.clearPendingSince = Number.NaN;
    s.deferred.clear();
    if (!enabled) {
      if (s.active) this.alarmBook.clear(s.id, this.actions.values(s), now, "rule disabled");
      s.active = false;
      s.since = now;
    } else {
      this.program.table.now = now;
      this.evaluate(s, now);
      this.drainVirtual(now);
    }
    return this.status(s);
  }

  list(): RuleStatus[] {
    return this.program.states.map((s) => this.status(s));
  }

  get(ruleId: string): RuleStatus | undefined {
    const s = this.program.byId.get(ruleId);
    return s ? this.status(s) : undefined;
  }

  private status(s: RuleState): RuleStatus {
    const ids = this.program.table.ids;
    return {
      id: s.id,
      description: s.rule.config.description ?? null,
      source: s.source,
      enabled: s.enabled,
      state: phaseOf(s),
      since: Number.isNaN(s.since) ? null : s.since,
      lastEvaluated: Number.isNaN(s.lastEvaluated) ? null : s.lastEvaluated,
      evaluations: s.evaluations,
      condition: s.evaluations === 0 ? null : s.lastCondition === undefined ? "unknown" : s.lastCondition,
      lastError: s.lastError,
      reads: s.rule.reads.map((slot) => ids[slot] as string),
    };
  }

  /** Acknowledges an alarm by id (operator action through the API or a command). */
  acknowledge(alarmId: number, by: string | null = null): Alarm {
    return this.alarmBook.acknowledge(alarmId, by, this.clock());
  }

  /** Alarms not yet closed (active, acknowledged, cleared-unacknowledged). */
  openAlarms(): Alarm[] {
    return this.alarmBook.open();
  }

  virtualPoints(): readonly VirtualPointConfig[] {
    return this.program.virtualPoints;
  }

  /** The current value of a point as the rules see it (null = unknown). */
  value(pointId: string): SampleValue | null | undefined {
    const slot = this.program.table.slots.get(pointId);
    return slot === undefined ? undefined : this.program.table.plain(slot);
  }

  stats(): RuleEngineStats {
    return { rules: this.program.states.length, ...this.counters };
  }

  private report(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.options.logger?.error({ err: errorMessage(err) }, "a rules callback threw");
    }
  }
}

function copySlot(from: ValueTable, i: number, to: ValueTable, j: number): void {
  to.kind[j] = from.kind[i] as number;
  to.num[j] = from.num[i] as number;
  to.ts[j] = from.ts[i] as number;
  to.prevNum[j] = from.prevNum[i] as number;
  to.lastGood[j] = from.lastGood[i] as number;
  to.str[j] = from.str[i];
}

export type { PointValues };
