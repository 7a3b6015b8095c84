import { describe, expect, it } from "vitest";
import { harness, points } from "./harness.js";

const P = points("temp", "level", "flow", "counter");

describe("time: for, clearFor and hysteresis with an injected clock", () => {
  it("raises only once `when` has held for the whole `for` duration, via tick() without new samples", () => {
    const h = harness({ rules: [{ id: "hot", when: "temp > 80", for: "10s", actions: [{ type: "alarm" }] }] }, P);
    h.feed({ temp: 85 });
    expect(h.state("hot")).toBe("pending");
    h.wait(9_999);
    expect(h.state("hot")).toBe("pending");
    expect(h.alarms).toHaveLength(0);
    h.wait(1);
    expect(h.state("hot")).toBe("active");
    expect(h.alarms.map((a) => [a.change, a.alarm.raisedAt])).toEqual([["raised", h.clock.t]]);
  });

  it("restarts `for` when the condition drops in between", () => {
    const h = harness({ rules: [{ id: "hot", when: "temp > 80", for: 10_000 }] }, P);
    h.feed({ temp: 85 });
    h.wait(6_000);
    h.feed({ temp: 70 });
    expect(h.state("hot")).toBe("inactive");
    h.feed({ temp: 90 });
    h.wait(6_000);
    expect(h.state("hot")).toBe("pending");
    h.wait(4_000);
    expect(h.state("hot")).toBe("active");
  });

  it("clears only after the clear condition held for clearFor", () => {
    const h = harness({ rules: [{ id: "hot", when: "temp > 80", clearFor: "5s" }] }, P);
    h.feed({ temp: 85 });
    expect(h.state("hot")).toBe("active");
    h.feed({ temp: 75 });
    expect(h.state("hot")).toBe("clearing");
    h.wait(2_000);
    h.feed({ temp: 81 });
    expect(h.state("hot")).toBe("active");
    h.feed({ temp: 60 });
    h.wait(4_999);
    expect(h.state("hot")).toBe("clearing");
    h.wait(1);
    expect(h.state("hot")).toBe("inactive");
  });

  it("uses a separate clear condition as hysteresis", () => {
    const h = harness({ rules: [{ id: "hot", when: "temp > 80", clear: "temp < 70" }] }, P);
    const seen: string[] = [];
    for (const t of [79, 81, 75, 71, 80, 69, 75, 81]) {
      h.feed({ temp: t });
      seen.push(`${t}:${h.state("hot")}`);
    }
    expect(seen).toEqual(["79:inactive", "81:active", "75:active", "71:active", "80:active", "69:inactive", "75:inactive", "81:active"]);
  });
});

describe("time: window functions and staleness", () => {
  it("rate() is the change per second over the window", () => {
    const h = harness({ rules: [{ id: "filling", when: 'rate(level, "10s") > 0.5' }] }, P);
    for (let i = 0; i <= 10; i++) {
      h.feed({ level: 50 + i * 0.4 }); // 0.4 per second
      h.clock.advance(1000);
    }
    expect(h.state("filling")).toBe("inactive");
    for (let i = 0; i <= 10; i++) {
      h.feed({ level: 60 + i }); // 1 per second
      h.clock.advance(1000);
    }
    expect(h.state("filling")).toBe("active");
  });

  it("avg, min, max and count aggregate the samples inside the window only, and the window moves with tick()", () => {
    const h = harness(
      {
        virtualPoints: [{ id: "avg" }, { id: "min" }, { id: "max" }, { id: "count" }],
        rules: [
          {
            id: "stats",
            when: "true",
            actions: [
              { type: "set", point: "avg", value: 'avg(flow, "30s")', on: "active" },
              { type: "set", point: "min", value: 'min(flow, "30s")', on: "active" },
              { type: "set", point: "max", value: 'max(flow, "30s")', on: "active" },
              { type: "set", point: "count", value: 'count(flow, "30s")', on: "active" },
            ],
          },
        ],
      },
      P,
    );
    const last = () => Object.fromEntries(h.virtual.slice(-4).map((s) => [s.point, s.value]));
    for (const v of [10, 20, 30, 40]) {
      h.feed({ flow: v });
      h.clock.advance(10_000);
    }
    // Samples at t=0,10,20,30 s; now = 40 s; window (10 s, 40 s] holds 20, 30, 40.
    h.wait(0);
    expect(last()).toEqual({ avg: 30, min: 20, max: 40, count: 3 });
    h.wait(15_000); // now = 55 s: only the sample at 30 s is left
    expect(last()).toEqual({ avg: 40, min: 40, max: 40, count: 1 });
    h.wait(30_000);
    expect(last()).toEqual({ avg: null, min: null, max: null, count: 0 });
  });

  it("delta() is the change since the previous sample, or over a window", () => {
    const h = harness({ rules: [{ id: "jump", when: "abs(delta(counter)) > 5" }, { id: "moved", when: 'delta(counter, "1m") >= 20' }] }, P);
    h.feed({ counter: 100 });
    h.clock.advance(1000);
    h.feed({ counter: 110 });
    expect(h.state("jump")).toBe("active");
    h.clock.advance(1000);
    h.feed({ counter: 110 });
    expect(h.state("jump")).toBe("inactive");
    h.clock.advance(1000);
    h.feed({ counter: 121 });
    expect(h.state("moved")).toBe("active");
  });

  it("delta(p) after a bad sample is the change since the last good one (10, 20, bad, 30 gives 10)", () => {
    const h = harness({ virtualPoints: [{ id: "d" }], rules: [{ id: "track", when: "true", actions: [{ type: "set", point: "d", value: "delta(counter)", on: "active" }] }] }, P);
    const deltas = () => h.virtual.map((s) => s.value);
    for (const v of [10, 20, null, 30]) {
      h.clock.advance(1000);
      h.feed({ counter: v });
    }
    // One set per evaluation: at load (no sample), after 10 (no previous), 20, bad, 30.
    expect(deltas()).toEqual([null, null, 10, null, 10]);
    // A repeated value after the gap is a change of 0, not of the value before the gap.
    h.clock.advance(1000);
    h.feed({ counter: 30 });
    expect(deltas().at(-1)).toBe(0);
  });

  it("an input older than staleAfter reads as Unknown, found by tick() without any new sample", () => {
    const h = harness({ rules: [{ id: "hot", when: "temp > 80", staleAfter: "5s", onUnknown: "false" }] }, P);
    h.feed({ temp: 90 });
    expect(h.state("hot")).toBe("active");
    h.wait(5_000);
    expect(h.state("hot")).toBe("active");
    h.wait(1);
    expect(h.engine.get("hot")).toMatchObject({ state: "inactive", condition: "unknown" });
    // A fresh sample with the same value makes it known again.
    h.feed({ temp: 90 });
    expect(h.state("hot")).toBe("active");
  });
});
