/**
 * The data model every layer shares. A Sample is one reading of one point; drivers produce them,
 * the pipeline scales and filters them, the store keeps them and the uplink sends them.
 */

export type Quality = "good" | "bad" | "uncertain";

/**
 * A point's value. Integers beyond 2^53 (int64/uint64 registers) travel as decimal strings so they
 * are never rounded; every other number is a JS number.
 */
export type SampleValue = number | boolean | string;

export interface Sample {
  /** Point id, unique across the whole configuration. */
  point: string;
  /** Milliseconds since the Unix epoch, taken when the value was read (or the server's timestamp). */
  ts: number;
  /** null only when the read failed and there is no value to report (quality is then "bad"). */
  value: SampleValue | null;
  quality: Quality;
  /** Why a sample is bad or uncertain (timeout, exception code, ...); absent when good. */
  reason?: string;
}

/** Where a driver hands its samples: one call per poll cycle or notification burst, never per value. */
export type SampleSink = (samples: Sample[]) => void;

/** A clock in milliseconds since the epoch; injected wherever time decides behaviour, so tests control it. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
