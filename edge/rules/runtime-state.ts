import type { CompiledRule, RuleSource } from "./rule.js";
import type { SampleValue } from "../model.js";

/** The mutable state of one loaded rule; survives a reload when the rule's definition is unchanged. */
export class RuleState {
  enabled: boolean;
  active = false;
  /** When the raise condition started to hold (for `for`), NaN when it does not. */
  pendingSince = Number.NaN;
  /** When the clear condition started to hold (for `clearFor`), NaN when it does not. */
  clearPendingSince = Number.NaN;
  /** When the rule last changed between active and inactive (NaN: not since load). */
  since = Number.NaN;
  lastEvaluated = Number.NaN;
  evaluations = 0;
  lastError: string | null = null;
  /** The last value of the condition evaluated (when while inactive, clear or when while active). */
  lastCondition: boolean | undefined = undefined;
  /** Per written point: when this rule last sent a write (minInterval). */
  readonly lastWrite = new Map<string, number>();
  /** Per written point: a write held back by minInterval, sent by tick() when due (latest value wins). */
  readonly deferred = new Map<string, { value: SampleValue; due: number; action: number }>();

  /** Timing and Unknown handling copied out of the config once: the hot path reads plain fields. */
  readonly forMs: number;
  readonly clearForMs: number;
  /** What an Unknown condition counts as: true, false, or undefined (hold). */
  readonly unknownAs: boolean | undefined;
  /** Whether an action runs `on: active`: the others need no call on every evaluation. */
  readonly runsWhileActive: boolean;

  constructor(
    readonly index: number,
    readonly rule: CompiledRule,
    readonly source: RuleSource,
    /** JSON of the definition: a reload keeps the state of rules whose text did not change. */
    readonly fingerprint: string,
  ) {
    this.enabled = rule.config.enabled;
    this.forMs = rule.config.for ?? 0;
    this.clearForMs = rule.config.clearFor ?? 0;
    this.runsWhileActive = rule.actions.some((a) => a.type !== "alarm" && a.on === "active");
    this.unknownAs = rule.config.onUnknown === "true" ? true : rule.config.onUnknown === "false" ? false : undefined;
  }

  get id(): string {
    return this.rule.config.id;
  }

  /** Takes over the state of the same rule from the previous load. */
  adopt(old: RuleState): void {
    this.enabled = old.enabled;
    this.active = old.active;
    this.pendingSince = old.pendingSince;
    this.clearPendingSince = old.clearPendingSince;
    this.since = old.since;
    this.lastEvaluated = old.lastEvaluated;
    this.evaluations = old.evaluations;
    this.lastError = old.lastError;
    this.lastCondition = old.lastCondition;
    for (const [k, v] of old.lastWrite) this.lastWrite.set(k, v);
    for (const [k, v] of old.deferred) this.deferred.set(k, v);
  }
}

export type RulePhase = "disabled" | "inactive" | "pending" | "active" | "clearing";

/** A rule as list() shows it (the API returns this as JSON). */
export interface RuleStatus {
  id: string;
  description: string | null;
  source: RuleSource;
  enabled: boolean;
  /** pending = `when` holds and `for` is running; clearing = the clear condition holds and `clearFor` is running. */
  state: RulePhase;
  /** When it last became active or inactive (ms epoch), null when not since load. */
  since: number | null;
  lastEvaluated: number | null;
  evaluations: number;
  /** The last condition value: true, false, or "unknown"; null before the first evaluation. */
  condition: boolean | "unknown" | null;
  lastError: string | null;
  /** Point ids the rule reads. */
  reads: string[];
}

export function phaseOf(s: RuleState): RulePhase {
  if (!s.enabled) return "disabled";
  if (s.active) return Number.isNaN(s.clearPendingSince) ? "active" : "clearing";
  return Number.isNaN(s.pendingSince) ? "inactive" : "pending";
}
