import { describe, expect, it } from "vitest";
import { RateMeter } from "../../../edge/drivers/opcua/rate.js";

describe("notifications per second", () => {
  it("averages complete seconds over its window on the injected clock", () => {
    let now = 10_000;
    const rate = new RateMeter(() => now, 5);
    for (let s = 0; s < 5; s++) {
      rate.add(100);
      rate.add(100);
      now += 1000;
    }
    expect(rate.perSecond()).toBe(200);
    rate.add(5000); // the current second does not count yet
    expect(rate.perSecond()).toBe(200);
    now += 6000; // silence: old buckets fall out of the window
    expect(rate.perSecond()).toBe(0);
  });
});
