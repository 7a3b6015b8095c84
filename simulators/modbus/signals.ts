/**
 * Signal generators: each turns "seconds since the simulator started" into a value. They are pure
 * functions of elapsed time (the random walk replays a seeded PRNG), so a test with an injected clock
 * sees exactly the same values every run.
 */
import type { SimValue } from "./encoding.js";

export type SignalSpec =
  /** min..max, starts at the midpoint rising; phaseS shifts it. */
  | { kind: "sine"; min: number; max: number; periodS: number; phaseS: number }
  /** Sawtooth: min at the start of each period, climbing linearly towards max. */
  | { kind: "ramp"; min: number; max: number; periodS: number }
  /** start + step, perS times a second. Integer counters are computed as bigint so 64-bit ones never round. */
  | { kind: "counter"; start: number | bigint; step: number; perS: number }
  /** Every everyS seconds moves by at most ±step, reflected at min/max. */
  | { kind: "randomWalk"; min: number; max: number; step: number; seed: number; everyS: number; start?: number | undefined }
  /** Cycles through values, one every everyS seconds (a 0/1 toggle is values: [0, 1]). */
  | { kind: "state"; values: SimValue[]; everyS: number }
  | { kind: "constant"; value: SimValue };

export type SignalKind = SignalSpec["kind"];

export type Generator = (elapsedS: number) => SimValue;

/**
 * A floor that forgives floating-point error at step boundaries (0.29 * 100 = 28.999999999999996
 * must count as step 29).
 */
function steps(x: number): number {
  return Math.floor(x + 1e-9);
}

/** mulberry32: a tiny, well-mixed 32-bit PRNG; enough for plausible noise, and reproducible from its seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomWalk(spec: Extract<SignalSpec, { kind: "randomWalk" }>): Generator {
  const initial = Math.min(spec.max, Math.max(spec.min, spec.start ?? (spec.min + spec.max) / 2));
  let rng = mulberry32(spec.seed);
  let index = 0;
  let value = initial;
  // Walk forward from the last answer; a clock that went backwards replays from the seed, so the
  // value for a given time is always the same.
  return (elapsedS) => {
    const target = steps(Math.max(0, elapsedS) / spec.everyS);
    if (target < index) {
      rng = mulberry32(spec.seed);
      index = 0;
      value = initial;
    }
    while (index < target) {
      value += (rng() * 2 - 1) * spec.step;
      if (value > spec.max) value = 2 * spec.max - value;
      if (value < spec.min) value = 2 * spec.min - value;
      value = Math.min(spec.max, Math.max(spec.min, value)); // a step wider than the range
      index++;
    }
    return value;
  };
}

export function createGenerator(spec: SignalSpec): Generator {
  switch (spec.kind) {
    case "sine":
      return (t) => spec.min + ((spec.max - spec.min) * (1 + Math.sin((2 * Math.PI * (t + spec.phaseS)) / spec.periodS))) / 2;
    case "ramp":
      return (t) => {
        const phase = (((t % spec.periodS) + spec.periodS) % spec.periodS) / spec.periodS;
        return spec.min + (spec.max - spec.min) * phase;
      };
    case "counter": {
      const integral = Number.isInteger(spec.step) && (typeof spec.start === "bigint" || Number.isInteger(spec.start));
      return (t) => {
        const n = steps(Math.max(0, t) * spec.perS);
        return integral ? BigInt(spec.start) + BigInt(spec.step) * BigInt(n) : Number(spec.start) + spec.step * n;
      };
    }
    case "randomWalk":
      return randomWalk(spec);
    case "state":
      return (t) => {
        const i = steps(Math.max(0, t) / spec.everyS) % spec.values.length;
        // Non-empty by schema; the fallback only satisfies the type checker.
        return spec.values[i] ?? 0;
      };
    case "constant":
      return () => spec.value;
  }
}
