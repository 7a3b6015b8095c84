import type { Quality, Sample, SampleValue } from "../model.js";

/** One point's reading, as fields of a record made once per point and overwritten in place. */
export interface Reading {
  ts: number;
  value: SampleValue | null;
  quality: Quality;
  reason: string | undefined;
}

/**
 * The latest reading of each point, without holding on to the Sample objects themselves. A sample kept
 * until the point's next poll lives about a second: long enough for V8 to move it to the old
 * generation, where at plant scale 10,000 a second pile up as garbage until a full collection.
 * Overwriting a record per point allocates nothing.
 */
export class LatestReadings {
  private readonly byPoint = new Map<string, Reading>();

  get size(): number {
    return this.byPoint.size;
  }

  get(point: string): Readonly<Reading> | undefined {
    return this.byPoint.get(point);
  }

  set(s: Sample): void {
    const r = this.byPoint.get(s.point);
    if (r === undefined) {
      this.byPoint.set(s.point, { ts: s.ts, value: s.value, quality: s.quality, reason: s.reason });
      return;
    }
    r.ts = s.ts;
    r.value = s.value;
    r.quality = s.quality;
    r.reason = s.reason;
  }

  /** Makes `point`'s reading what it is in `from` (none when `from` has none). */
  restore(point: string, from: LatestReadings): void {
    const r = from.byPoint.get(point);
    if (r === undefined) this.byPoint.delete(point);
    else this.set({ point, ...r });
  }

  /** Every reading as a Sample (made on demand: callers are the API's views, not the data path). */
  samples(): Map<string, Sample> {
    const out = new Map<string, Sample>();
    for (const [point, r] of this.byPoint) {
      out.set(point, r.reason === undefined ? { point, ts: r.ts, value: r.value, quality: r.quality } : { point, ts: r.ts, value: r.value, quality: r.quality, reason: r.reason });
    }
    return out;
  }
}
