import type { Sample } from "../model.js";
import type { AlarmChange } from "./alarms.js";
import { RuleEngine } from "./engine.js";
import type { FiredAction, RuleActionError } from "./events.js";
import type { RulePointInfo } from "./rule.js";
import type { RuleSetInput } from "./schema.js";

export interface DryRunOptions {
  /**
   * Simulated tick period between samples (ms), for rules that time alone can change (windows,
   * staleAfter). `for`/`clearFor` timers and held-back writes fire at their exact deadlines anyway.
   * Default 1000.
   */
  tickMs?: number;
  /** Stop after this many fired actions (a day of history can fire a lot). Default 10,000. */
  maxFired?: number;
}

export interface DryRunResult {
  /** Every action that would have run, in time order. Writes are recorded, never sent. */
  fired: FiredAction[];
  /** Alarm changes that would have happened. */
  alarms: AlarmChange[];
  /** Actions that would have failed or been skipped (e.g. a write of an Unknown value). */
  errors: RuleActionError[];
  samples: number;
  evaluations: number;
  /** True when maxFired was reached and the replay stopped early. */
  truncated: boolean;
  from: number | null;
  to: number | null;
}

/**
 * Replays samples (e.g. the store's history between --from and --to) through a fresh engine on a
 * simulated clock and returns what the rule set would have done. Pure: nothing is written, stored or
 * published; the alarms live in memory. Throws RuleSetError when the set does not compile.
 */
export function dryRun(ruleSet: RuleSetInput, samples: Iterable<Sample>, points: readonly RulePointInfo[], options: DryRunOptions = {}): DryRunResult {
  const tickMs = options.tickMs ?? 1000;
  const maxFired = options.maxFired ?? 10_000;
  const ordered = [...samples].sort((a, b) => a.ts - b.ts);
  const fired: FiredAction[] = [];
  const alarms: AlarmChange[] = [];
  const errors: RuleActionError[] = [];
  let now = ordered[0]?.ts ?? 0;
  const engine = new RuleEngine({
    points,
    clock: () => now,
    onAction: (f) => fired.push(f),
    onAlarm: (c) => alarms.push(c),
    onActionError: (e) => errors.push(e),
    // No writePoint: a dry run never touches a device.
  });
  engine.load(ruleSet);
  const timeRules = engine.hasTimeRules();

  /** Advances the simulated clock to `until`, ticking at every deadline and tick period on the way. */
  const advance = (until: number) => {
    for (;;) {
      const deadline = engine.nextDeadline();
      const periodic = timeRules ? Math.floor(now / tickMs) * tickMs + tickMs : Infinity;
      const next = Math.min(deadline ?? Infinity, periodic);
      if (next > until || fired.length >= maxFired) break;
      now = Math.max(now, next);
      engine.tick(now);
    }
    now = Math.max(now, until);
  };

  let i = 0;
  while (i < ordered.length && fired.length < maxFired) {
    const ts = (ordered[i] as Sample).ts;
    advance(ts);
    // Samples sharing a timestamp arrive together, as one driver poll would deliver them.
    let j = i;
    while (j < ordered.length && (ordered[j] as Sample).ts === ts) j++;
    engine.onSamples(ordered.slice(i, j));
    i = j;
  }
  const truncated = fired.length >= maxFired;
  const stats = engine.stats();
  return {
    fired: fired.slice(0, maxFired),
    alarms,
    errors,
    samples: ordered.length,
    evaluations: stats.evaluations,
    truncated,
    from: ordered[0]?.ts ?? null,
    to: ordered[ordered.length - 1]?.ts ?? null,
  };
}
