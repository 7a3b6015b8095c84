import { describe, expect, it } from "vitest";
import { harness, type Harness } from "./harness.js";
import type { RulePointInfo } from "../../../edge/rules/rule.js";
import { RuleSetError } from "../../../edge/rules/engine.js";

const P: RulePointInfo[] = [
  { id: "level" },
  { id: "temp" },
  { id: "pump.run", writable: true },
  { id: "valve.sp", writable: true, writeMin: 0, writeMax: 100 },
  { id: "readonly.sp" },
];

const flush = () => new Promise((r) => setImmediate(r));

describe("write actions", () => {
  it("stops a pump when the tank is full and restarts it below the restart level (raise/clear writes)", () => {
    const h = harness(
      {
        rules: [
          {
            id: "tank-full",
            when: "level >= 95",
            clear: "level < 80",
            actions: [
              { type: "write", point: "pump.run", value: false, on: "raise" },
              { type: "write", point: "pump.run", value: true, on: "clear" },
            ],
          },
        ],
      },
      P,
    );
    for (const l of [70, 96, 90, 79]) h.feed({ level: l });
    expect(h.writes.map((w) => [w.point, w.value])).toEqual([
      ["pump.run", false],
      ["pump.run", true],
    ]);
  });

  it("clamps numeric values to the point's writeMin/writeMax and the action's own min/max, and says so", () => {
    const h = harness(
      {
        rules: [
          { id: "a", when: "temp > 0", actions: [{ type: "write", point: "valve.sp", value: "temp * 10" }] },
          { id: "b", when: "temp < 0", actions: [{ type: "write", point: "valve.sp", value: "temp", min: 5 }] },
        ],
      },
      P,
    );
    h.feed({ temp: 50 });
    h.feed({ temp: -3 });
    expect(h.writes.map((w) => w.value)).toEqual([100, 5]);
    expect(h.fired.filter((f) => f.action === "write").map((f) => f.clampedFrom)).toEqual([500, -3]);
  });

  it("reads numeric text as a number for a point with limits and clamps it; refuses text that is no number", () => {
    const h = harness(
      {
        rules: [
          { id: "lit", when: "temp > 0", actions: [{ type: "write", point: "valve.sp", value: '"500"' }] },
          { id: "fromPoint", when: "temp > 1", actions: [{ type: "write", point: "valve.sp", value: "level", min: 10 }] },
          { id: "inRange", when: "temp > 2", actions: [{ type: "write", point: "valve.sp", value: '" 42 "' }] },
          { id: "text", when: "temp > 3", actions: [{ type: "write", point: "valve.sp", value: '"open"' }] },
          // No limits: the point is not known to be numeric, text goes as it is.
          { id: "free", when: "temp > 4", actions: [{ type: "write", point: "pump.run", value: '"auto"' }] },
        ],
      },
      P,
    );
    h.feed({ level: "-7" }); // an int64-style register: decimal text
    h.feed({ temp: 5 });
    expect(h.writes.map((w) => [w.point, w.value])).toEqual([
      ["valve.sp", 100],
      ["valve.sp", 10],
      ["valve.sp", 42],
      ["pump.run", "auto"],
    ]);
    expect(h.fired.filter((f) => f.action === "write").map((f) => f.clampedFrom)).toEqual([500, -7, undefined, undefined]);
    expect(h.errors.map((e) => [e.rule, e.message])).toEqual([["text", 'write "open" to "valve.sp" refused: not a number (the point has write limits)']]);
    expect(h.engine.get("text")?.lastError).toContain("not a number");
  });

  it("spaces writes by minInterval: a write due earlier waits for tick() and the latest value wins", () => {
    const h = harness(
      {
        rules: [
          {
            id: "track",
            when: "temp > 0",
            minInterval: "10s",
            actions: [{ type: "write", point: "valve.sp", value: "temp", on: "active" }],
          },
        ],
      },
      P,
    );
    h.feed({ temp: 10 });
    h.clock.advance(1000);
    h.feed({ temp: 20 });
    h.clock.advance(1000);
    h.feed({ temp: 30 });
    expect(h.writes.map((w) => w.value)).toEqual([10]);
    expect(h.engine.nextDeadline()).toBe(h.writes[0]!.at + 10_000);
    h.wait(7_999);
    expect(h.writes).toHaveLength(1);
    h.wait(1);
    expect(h.writes.map((w) => [w.value, w.at - h.writes[0]!.at])).toEqual([
      [10, 0],
      [30, 10_000],
    ]);
  });

  it("reports a failed write without throwing, and records it as the rule's lastError", async () => {
    const h: Harness = harness(
      { rules: [{ id: "w", when: "temp > 0", actions: [{ type: "write", point: "valve.sp", value: 42 }] }] },
      P,
      { writePoint: () => Promise.reject(new Error("Modbus exception 2 (illegal address)")) },
    );
    expect(() => h.feed({ temp: 1 })).not.toThrow();
    await flush();
    expect(h.errors.map((e) => e.message)).toEqual(['write 42 to "valve.sp" failed: Modbus exception 2 (illegal address)']);
    expect(h.engine.get("w")?.lastError).toContain("illegal address");
  });

  it("skips and reports a write whose value is Unknown", () => {
    const h = harness({ rules: [{ id: "w", when: "temp > 0", actions: [{ type: "write", point: "valve.sp", value: "level" }] }] }, P);
    h.feed({ temp: 1 });
    expect(h.writes).toEqual([]);
    expect(h.errors[0]?.message).toBe('write to "valve.sp" skipped: its value is unknown');
  });

  it("refuses at load a write to a read-only or unknown point", () => {
    const h = harness({ rules: [] }, P);
    expect(() => h.engine.load({ rules: [{ id: "w", when: "temp > 0", actions: [{ type: "write", point: "readonly.sp", value: 1 }] }] })).toThrow(
      'rule "w": actions[0]: point "readonly.sp" is not writable',
    );
    expect(() => h.engine.load({ rules: [{ id: "w", when: "temp > 0", actions: [{ type: "write", point: "nope", value: 1 }] }] })).toThrow(
      'rule "w": actions[0]: unknown point "nope"',
    );
  });
});

describe("virtual points, events and alarms messages", () => {
  it("set emits a sample for a declared virtual point that other rules then read", () => {
    const h = harness(
      {
        virtualPoints: [{ id: "temp.f", unit: "°F" }],
        rules: [
          { id: "convert", when: "known(temp)", actions: [{ type: "set", point: "temp.f", value: "temp * 9 / 5 + 32", on: "active" }] },
          { id: "hot-f", when: "temp.f > 200", actions: [{ type: "event", message: "{temp.f} °F" }] },
        ],
      },
      P,
    );
    h.feed({ temp: 50 });
    h.feed({ temp: 100 });
    expect(h.virtual.map((s) => [s.point, s.value, s.quality])).toEqual([
      ["temp.f", 122, "good"],
      ["temp.f", 212, "good"],
    ]);
    expect(h.events.map((e) => [e.rule, e.message, e.trigger])).toEqual([["hot-f", "212 °F", "raise"]]);
    expect(h.engine.value("temp.f")).toBe(212);
  });

  it("refuses set on a point that is not declared virtual, and a virtual id that clashes with a device point", () => {
    const h = harness({ rules: [] }, P);
    let err: unknown;
    try {
      h.engine.load({
        virtualPoints: [{ id: "temp" }],
        rules: [{ id: "s", when: "true", actions: [{ type: "set", point: "level", value: 1 }] }],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuleSetError);
    expect((err as RuleSetError).problems).toEqual([
      'virtual point "temp": a device point has this id',
      'rule "s": actions[0]: "level" is not a virtual point (declare it under virtualPoints)',
    ]);
  });

  it("stops rules that set virtual points re-triggering each other in a loop, and reports it", () => {
    const h = harness(
      {
        virtualPoints: [{ id: "x" }],
        rules: [{ id: "loop", when: "true", actions: [{ type: "set", point: "x", value: "if(known(x), x + 1, 1)", on: "active" }] }],
      },
      P,
    );
    expect(h.engine.stats().cascadeCutoffs).toBe(1);
    // Round 0 (the load) plus 8 more rounds, then the cut: bounded, not a hang.
    expect(h.virtual.map((s) => s.value)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(h.engine.value("x")).toBe(9);
  });

  it("fills alarm and event templates with current values, {{ }} as literal braces", () => {
    const h = harness(
      {
        rules: [
          {
            id: "hot",
            when: "temp > 80",
            actions: [
              { type: "alarm", severity: "critical", message: "bearing at {round(temp, 1)} °C {{limit 80}}" },
              { type: "event", name: "hot-cleared", on: "clear", message: "back to {temp}" },
            ],
          },
        ],
      },
      P,
    );
    h.feed({ temp: 85.26 });
    h.feed({ temp: 70 });
    expect(h.alarms.map((a) => [a.change, a.alarm.message, a.alarm.severity])).toEqual([
      ["raised", "bearing at 85.3 °C {limit 80}", "critical"],
      ["cleared", "bearing at 85.3 °C {limit 80}", "critical"],
    ]);
    expect(h.events.map((e) => [e.name, e.message])).toEqual([["hot-cleared", "back to 70"]]);
  });
});
