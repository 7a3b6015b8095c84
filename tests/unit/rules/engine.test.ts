import { describe, expect, it } from "vitest";
import { harness, points, good, T0 } from "./harness.js";
import { RuleEngine, RuleSetError } from "../../../edge/rules/engine.js";
import { dryRun } from "../../../edge/rules/dry-run.js";
import type { Sample } from "../../../edge/model.js";

const P = points("tank.level", "temp", "line-1.temp", "other");

describe("rule set management", () => {
  it("refuses an invalid set as a whole, listing every problem, and keeps the old set running", () => {
    const h = harness({ rules: [{ id: "tank-full", when: "tank.level > 90" }] }, P);
    let err: unknown;
    try {
      h.engine.load({
        rules: [
          { id: "ok", when: "temp > 1" },
          { id: "tank-full", when: "tank.level > 90 and tank.lvl" },
          { id: "bad-fn", when: "sqrt(temp) > 2" },
          { id: "bad-clear", when: "temp > 1", clear: "temp <" },
        ],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleSetError);
    expect((err as RuleSetError).code).toBe("RULES_INVALID");
    expect((err as RuleSetError).problems).toEqual([
      'rule "tank-full": when: column 21: unknown point "tank.lvl"',
      expect.stringMatching(/^rule "bad-fn": when: column 1: unknown function "sqrt"/),
      'rule "bad-clear": clear: column 7: expected a value, found end of expression',
    ]);
    expect(h.engine.list().map((r) => r.id)).toEqual(["tank-full"]);
    h.feed({ "tank.level": 95 });
    expect(h.state("tank-full")).toBe("active");
  });

  it("reports schema problems with their path", () => {
    const h = harness({ rules: [] }, P);
    expect(() =>
      h.engine.load({ rules: [{ id: "a", when: "temp > 1", for: "soon" }, { id: "a", when: "temp > 2", onUnknown: "maybe" as "hold" }] }),
    ).toThrow(
      'rules[0].for: expected a duration 0..86400000 ms, as a number of ms or text like "500ms", "10s", "2m", "1h", got "soon"\n' +
        '  rules[1].onUnknown: Invalid option: expected one of "hold"|"false"|"true"',
    );
  });

  it("list() shows state, since, lastEvaluated, evaluations, condition, source and reads", () => {
    const h = harness({ rules: [] }, P);
    h.engine.load(
      { rules: [{ id: "hot", description: "too hot", when: 'point("line-1.temp") > 50' }, { id: "off", enabled: false, when: "temp > 0" }] },
      { sources: new Map([["hot", "api" as const]]) },
    );
    h.clock.advance(500);
    h.feed({ "line-1.temp": 60 });
    expect(h.engine.list()).toEqual([
      {
        id: "hot",
        description: "too hot",
        source: "api",
        enabled: true,
        state: "active",
        since: T0 + 500,
        lastEvaluated: T0 + 500,
        evaluations: 2,
        condition: true,
        lastError: null,
        reads: ["line-1.temp"],
      },
      {
        id: "off",
        description: null,
        source: "config",
        enabled: false,
        state: "disabled",
        since: null,
        lastEvaluated: null,
        evaluations: 0,
        condition: null,
        lastError: null,
        reads: ["temp"],
      },
    ]);
  });

  it("a reload keeps the state of unchanged rules (no second raise) and the current values", () => {
    const rule = { id: "hot", when: "temp > 50", actions: [{ type: "alarm" as const }] };
    const h = harness({ rules: [rule] }, P);
    h.feed({ temp: 60 });
    h.engine.load({ rules: [rule, { id: "new", when: "temp > 55" }] });
    expect(h.alarms.map((a) => a.change)).toEqual(["raised"]);
    expect(h.state("hot")).toBe("active");
    // The new rule saw temp = 60 at load, without a new sample.
    expect(h.state("new")).toBe("active");
  });
});

describe("evaluation only on change", () => {
  it("evaluates only the rules that read a point whose value changed", () => {
    const h = harness(
      { rules: [{ id: "a", when: "temp > 50" }, { id: "b", when: "tank.level > 50" }, { id: "c", when: "temp + tank.level > 50" }] },
      P,
    );
    const evals = () => Object.fromEntries(h.engine.list().map((r) => [r.id, r.evaluations]));
    expect(evals()).toEqual({ a: 1, b: 1, c: 1 }); // the load
    h.feed({ temp: 10 });
    expect(evals()).toEqual({ a: 2, b: 1, c: 2 });
    h.feed({ temp: 10 }); // same value: nothing to do
    expect(evals()).toEqual({ a: 2, b: 1, c: 2 });
    h.feed({ other: 1 }); // nobody reads it
    expect(evals()).toEqual({ a: 2, b: 1, c: 2 });
    h.engine.onSamples([good("temp", 11, T0), good("tank.level", 3, T0)]); // one batch: c once
    expect(evals()).toEqual({ a: 3, b: 2, c: 3 });
    h.engine.onSamples([{ point: "temp", ts: T0, value: null, quality: "bad" }]);
    expect(evals()).toEqual({ a: 4, b: 2, c: 4 });
    h.wait(60_000); // no time-dependent rule: tick evaluates nothing
    expect(evals()).toEqual({ a: 4, b: 2, c: 4 });
    expect(h.engine.stats().evaluations).toBe(10);
  });

  it("ignores samples of unknown points and counts them", () => {
    const engine = new RuleEngine({ points: P });
    engine.onSamples([good("nope", 1, T0)]);
    expect(engine.stats()).toMatchObject({ unknownPoints: 1, samples: 1, evaluations: 0 });
  });
});

describe("dry run", () => {
  it("replays samples in timestamp order on a simulated clock and returns what would have fired, writing nothing", () => {
    const samples: Sample[] = [];
    // Given out of order on purpose: the dry run sorts them.
    for (let s = 30; s >= 0; s--) samples.push(good("temp", s >= 5 && s < 20 ? 95 : 70, T0 + s * 1000));
    const result = dryRun(
      {
        rules: [
          {
            id: "bearing-hot",
            when: "temp > 90",
            for: "10s",
            actions: [
              { type: "alarm", message: "hot {temp}" },
              { type: "write", point: "fan", value: 100 },
            ],
          },
        ],
      },
      samples,
      [{ id: "temp" }, { id: "fan", writable: true, writeMax: 80 }],
    );
    expect(result.fired.map((f) => [f.ts - T0, f.action, f.trigger, f.value ?? f.message])).toEqual([
      [15_000, "alarm", "raise", "hot 95"],
      [15_000, "write", "raise", 80],
      [20_000, "alarm", "clear", "hot 95"],
    ]);
    expect(result.alarms.map((a) => a.change)).toEqual(["raised", "cleared"]);
    expect(result).toMatchObject({ samples: 31, from: T0, to: T0 + 30_000, truncated: false });
  });

  it("fires a `for` at its exact deadline between two samples far apart", () => {
    const result = dryRun({ rules: [{ id: "r", when: "temp > 90", for: "10s", actions: [{ type: "event" }] }] }, [good("temp", 95, T0), good("temp", 95, T0 + 60_000)], [{ id: "temp" }]);
    expect(result.fired.map((f) => f.ts - T0)).toEqual([10_000]);
  });

  it("refuses an invalid rule set with the same RuleSetError", () => {
    expect(() => dryRun({ rules: [{ id: "r", when: "nope > 1" }] }, [], [{ id: "temp" }])).toThrow(RuleSetError);
  });
});
