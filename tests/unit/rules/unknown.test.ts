import { describe, expect, it } from "vitest";
import { harness, points } from "./harness.js";

const P = points("temp", "backup");

function rule(onUnknown: "hold" | "false" | "true", extra: Record<string, unknown> = {}) {
  return { rules: [{ id: "r", when: "temp > 80", onUnknown, ...extra }] };
}

describe("onUnknown decides what an Unknown condition does", () => {
  it("hold keeps the current state, inactive or active", () => {
    const h = harness(rule("hold"), P);
    h.feed({ temp: null });
    expect(h.state("r")).toBe("inactive");
    h.feed({ temp: 90 });
    expect(h.state("r")).toBe("active");
    h.feed({ temp: null });
    expect(h.engine.get("r")).toMatchObject({ state: "active", condition: "unknown" });
  });

  it("hold restarts a `for` timer that Unknown interrupted", () => {
    const h = harness(rule("hold", { for: "10s" }), P);
    h.feed({ temp: 90 });
    h.wait(8_000);
    h.feed({ temp: null });
    h.wait(1_000);
    h.feed({ temp: 90 });
    h.wait(9_000);
    expect(h.state("r")).toBe("pending");
    h.wait(1_000);
    expect(h.state("r")).toBe("active");
  });

  it("false treats Unknown as false: never raises on it, and an active rule clears", () => {
    const h = harness(rule("false"), P);
    h.feed({ temp: null });
    expect(h.state("r")).toBe("inactive");
    h.feed({ temp: 90 });
    expect(h.state("r")).toBe("active");
    h.feed({ temp: null });
    expect(h.state("r")).toBe("inactive");
  });

  it("true treats Unknown as true (fail-safe): raises on it and an active rule stays", () => {
    const h = harness(rule("true", { actions: [{ type: "alarm", message: "temp {temp}" }] }), P);
    h.feed({ temp: 50 });
    expect(h.state("r")).toBe("inactive");
    h.feed({ temp: null });
    expect(h.state("r")).toBe("active");
    expect(h.alarms[0]?.alarm).toMatchObject({ message: "temp ?", values: { temp: null } });
    h.feed({ temp: 50 });
    expect(h.state("r")).toBe("inactive");
  });

  it("with a clear condition, Unknown applies to it the same way (false clears, true and hold keep)", () => {
    for (const [mode, after] of [["false", "inactive"], ["true", "active"], ["hold", "active"]] as const) {
      const h = harness(rule(mode, { clear: "temp < 70" }), P);
      h.feed({ temp: 90 });
      h.feed({ temp: null });
      expect(h.state("r"), mode).toBe(after);
    }
  });

  it("Kleene logic lets a known input decide despite an unknown one", () => {
    const h = harness({ rules: [{ id: "r", when: "temp > 80 or backup > 80", onUnknown: "false" }] }, P);
    h.feed({ temp: null, backup: 90 });
    expect(h.state("r")).toBe("active");
    h.feed({ backup: 60 });
    expect(h.engine.get("r")).toMatchObject({ state: "inactive", condition: "unknown" });
  });

  it("a point that has never reported is Unknown (evaluated once at load)", () => {
    const h = harness(rule("true"), P);
    expect(h.state("r")).toBe("active");
    expect(h.engine.get("r")?.evaluations).toBe(1);
  });
});
