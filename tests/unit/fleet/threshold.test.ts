import { describe, expect, it } from "vitest";
import { exceedsThreshold, normalizeThreshold } from "../../../simulators/fleet/threshold.js";

describe("failure threshold", () => {
  it("reads a number below 1 as a fraction and an integer as a count", () => {
    expect(normalizeThreshold(0.2)).toEqual({ fraction: 0.2 });
    expect(normalizeThreshold(0)).toEqual({ fraction: 0 });
    expect(normalizeThreshold(3)).toEqual({ count: 3 });
    expect(normalizeThreshold({ count: 0 })).toEqual({ count: 0 });
    expect(normalizeThreshold({ fraction: 1 })).toEqual({ fraction: 1 });
    expect(() => normalizeThreshold(1.5)).toThrow(/integer/);
    expect(() => normalizeThreshold(-1)).toThrow(/>= 0/);
    expect(() => normalizeThreshold({ fraction: 2 })).toThrow(/0\.\.1/);
  });

  it("a count tolerates that many failures and halts on the next", () => {
    const t = normalizeThreshold(2);
    expect(exceedsThreshold(t, 2, 100)).toBe(false);
    expect(exceedsThreshold(t, 3, 100)).toBe(true);
    expect(exceedsThreshold({ count: 0 }, 1, 100)).toBe(true);
  });

  it("a fraction is over the devices offered so far", () => {
    const t = normalizeThreshold(0.25);
    expect(exceedsThreshold(t, 1, 4)).toBe(false); // exactly a quarter: tolerated
    expect(exceedsThreshold(t, 2, 4)).toBe(true);
    expect(exceedsThreshold(t, 1, 1)).toBe(true); // a failing single canary halts before any wave
    expect(exceedsThreshold(t, 0, 0)).toBe(false);
    expect(exceedsThreshold({ fraction: 0 }, 1, 1000)).toBe(true);
    expect(exceedsThreshold({ fraction: 1 }, 10, 10)).toBe(false);
  });
});
