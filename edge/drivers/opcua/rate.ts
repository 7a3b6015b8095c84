import type { Clock } from "../../model.js";

/**
 * Events per second over a sliding window of one-second buckets, on an injected clock: O(1) to add,
 * a fixed array however fast events come.
 */
export class RateMeter {
  private readonly buckets: Float64Array;
  private readonly stamps: Float64Array;

  constructor(
    private readonly clock: Clock,
    private readonly windowS = 10,
  ) {
    // One bucket more than the window: the current (incomplete) second has its own.
    this.buckets = new Float64Array(windowS + 1);
    this.stamps = new Float64Array(windowS + 1).fill(-1);
  }

  add(n: number): void {
    const second = Math.floor(this.clock() / 1000);
    const i = second % this.buckets.length;
    if (this.stamps[i] !== second) {
      this.stamps[i] = second;
      this.buckets[i] = 0;
    }
    this.buckets[i] = (this.buckets[i] ?? 0) + n;
  }

  /** Average per second over the last complete `windowS` seconds (the current second excluded). */
  perSecond(): number {
    const now = Math.floor(this.clock() / 1000);
    let sum = 0;
    for (let k = 1; k <= this.windowS; k++) {
      const second = now - k;
      const n = this.buckets.length;
      const i = ((second % n) + n) % n;
      if (this.stamps[i] === second) sum += this.buckets[i] ?? 0;
    }
    return sum / this.windowS;
  }
}
