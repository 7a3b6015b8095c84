import { describe, expect, it } from "vitest";
import { createGenerator, mulberry32, type SignalSpec } from "../../../simulators/modbus/signals.js";

describe("mulberry32", () => {
  it("matches the reference implementation's first outputs for seed 1", () => {
    const rng = mulberry32(1);
    expect(rng()).toBe(0.6270739405881613);
    expect(rng()).toBe(0.002735721180215478);
    expect(rng()).toBe(0.5274470399599522);
  });

  it("stays in [0, 1) and differs between seeds", () => {
    const a = mulberry32(7);
    const b = mulberry32(8);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(xs.slice(0, 5)).not.toEqual(Array.from({ length: 5 }, () => b()));
  });
});

describe("signal generators", () => {
  it("sine starts at the midpoint rising and reaches max a quarter period in", () => {
    const g = createGenerator({ kind: "sine", min: 20, max: 80, periodS: 60, phaseS: 0 });
    expect(g(0)).toBeCloseTo(50, 9);
    expect(g(15)).toBeCloseTo(80, 9);
    expect(g(30)).toBeCloseTo(50, 9);
    expect(g(45)).toBeCloseTo(20, 9);
    expect(g(75)).toBeCloseTo(80, 9);
  });

  it("sine honours phaseS", () => {
    const g = createGenerator({ kind: "sine", min: 0, max: 10, periodS: 4, phaseS: 1 });
    expect(g(0)).toBeCloseTo(10, 9);
  });

  it("ramp is a sawtooth from min towards max", () => {
    const g = createGenerator({ kind: "ramp", min: 0, max: 500, periodS: 20 });
    expect(g(0)).toBe(0);
    expect(g(5)).toBe(125);
    expect(g(19)).toBe(475);
    expect(g(20)).toBe(0);
    expect(g(25)).toBe(125);
  });

  it("counter counts step per tick, perS times a second, as an exact bigint for integers", () => {
    const g = createGenerator({ kind: "counter", start: 0, step: 1, perS: 1 });
    expect(g(0)).toBe(0n);
    expect(g(0.999)).toBe(0n);
    expect(g(1)).toBe(1n);
    expect(g(59.5)).toBe(59n);
    const fast = createGenerator({ kind: "counter", start: 10, step: 5, perS: 100 });
    // 0.29 * 100 is 28.999999999999996 in floating point: still step 29.
    expect(fast(0.29)).toBe(10n + 5n * 29n);
  });

  it("counter past 2^53 stays exact", () => {
    const g = createGenerator({ kind: "counter", start: 9007199254740993n, step: 1, perS: 1 });
    expect(g(0)).toBe(9007199254740993n);
    expect(g(5)).toBe(9007199254740998n);
  });

  it("counter with a fractional step is a plain number", () => {
    const g = createGenerator({ kind: "counter", start: 0, step: 0.5, perS: 2 });
    expect(g(3)).toBe(3);
  });

  it("state cycles through its values every everyS seconds", () => {
    const g = createGenerator({ kind: "state", values: [0, 1], everyS: 5 });
    expect([0, 4.99, 5, 9.99, 10, 15].map(g)).toEqual([0, 0, 1, 1, 0, 1]);
    const s = createGenerator({ kind: "state", values: [true, false, true], everyS: 1 });
    expect([0, 1, 2, 3].map(s)).toEqual([true, false, true, true]);
  });

  it("constant returns its value whatever the time", () => {
    const g = createGenerator({ kind: "constant", value: 50 });
    expect([0, 1, 1e6].map(g)).toEqual([50, 50, 50]);
  });

  describe("randomWalk", () => {
    const spec: SignalSpec = { kind: "randomWalk", min: 0, max: 100, step: 3, seed: 42, everyS: 1, start: 50 };
    const times = Array.from({ length: 300 }, (_, i) => i * 0.5);

    it("is the same for the same seed and times, and starts at start", () => {
      const a = times.map(createGenerator(spec));
      const b = times.map(createGenerator(spec));
      expect(a).toEqual(b);
      expect(a[0]).toBe(50);
    });

    it("differs for another seed", () => {
      const a = times.map(createGenerator(spec));
      const b = times.map(createGenerator({ ...spec, seed: 43 }));
      expect(a).not.toEqual(b);
    });

    it("moves at most step per interval, changes every interval, and stays within bounds", () => {
      const g = createGenerator({ ...spec, min: 45, max: 55 });
      const values = Array.from({ length: 500 }, (_, i) => g(i) as number);
      for (let i = 1; i < values.length; i++) {
        expect(Math.abs((values[i] ?? 0) - (values[i - 1] ?? 0))).toBeLessThanOrEqual(3 + 1e-9);
        expect(values[i]).not.toBe(values[i - 1]);
      }
      expect(Math.min(...values)).toBeGreaterThanOrEqual(45);
      expect(Math.max(...values)).toBeLessThanOrEqual(55);
      // Reflection, not clamping: the walk reaches both halves of the narrow range.
      expect(values.some((v) => v < 48)).toBe(true);
      expect(values.some((v) => v > 52)).toBe(true);
    });

    it("gives the same value for a time whatever was asked before (clock going backwards)", () => {
      const fresh = createGenerator(spec)(10);
      const g = createGenerator(spec);
      g(200);
      expect(g(10)).toBe(fresh);
    });
  });
});
