/**
 * The benchmark contract. Every scenario measures the agent AND a baseline doing the same work in the
 * same run, so a figure is always read as a ratio against something measured on the same machine at the
 * same moment (absolute numbers from a laptop mean little on a Raspberry Pi, ratios travel better).
 *
 * A scenario is one module in scripts/bench/scenarios/<name>.ts, listed in scripts/bench/scenarios/index.ts.
 */
import type { BenchBroker } from "./broker.js";

/** A bound on one figure of a result. Issue-specific targets (e.g. "ratio >= 0.5") live here. */
export interface BenchTarget {
  /** Which figure the bound applies to; the ratio (agent / baseline) unless said otherwise. */
  on: "ratio" | "agent";
  /** Inclusive lower bound. */
  min?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Where the target comes from (issue, design page), shown in the JSON. */
  source?: string;
}

export interface BenchResult {
  /** A short, stable name (e.g. "throughput", "rss.max"): later runs are compared by scenario + metric. */
  metric: string;
  /** Unit of `agent` and `baseline` ("samples/s", "MB", "% of one core"). */
  unit: string;
  /** The agent's figure. */
  agent: number;
  /** The baseline's figure, measured in the same run. */
  baseline: number;
  /** Whether a larger figure is better (throughput) or worse (memory, CPU, latency). */
  higherIsBetter: boolean;
  /** Optional bound; the runner reports whether it was met and exits non-zero when it was not. */
  target?: BenchTarget;
  /** What the baseline is, in a few words (shown in the JSON). */
  baselineLabel?: string;
  /** Anything worth keeping with the figure: per-round values, counters, settings. */
  details?: Record<string, unknown>;
}

/** A result as the runner records it: with its scenario, ratio and verdict. */
export interface RecordedResult extends BenchResult {
  scenario: string;
  /** agent / baseline (NaN when the baseline is 0). */
  ratio: number;
  /** Present when the result has a target. */
  targetMet?: boolean;
}

export interface BenchContext {
  /** The repository root (where package.json is); compiled code lives under `<root>/dist`. */
  readonly root: string;
  /** A progress line on stderr, prefixed with the scenario name. */
  log(message: string): void;
  /** A fresh temporary directory, removed when the run ends. */
  tmpDir(prefix: string): Promise<string>;
  /**
   * The run's MQTT broker (started on first use, shared by every scenario, stopped at the end):
   * Mosquitto when installed, the embedded aedes broker otherwise.
   */
  broker(): Promise<BenchBroker>;
  /** Scale factor for workloads (EDGE_BENCH_SCALE, default 1): 0.1 for a quick smoke run. */
  readonly scale: number;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** Runs the measurement; throws (loudly) when the work was not done correctly, e.g. samples lost. */
  run(ctx: BenchContext): Promise<BenchResult[]>;
}
