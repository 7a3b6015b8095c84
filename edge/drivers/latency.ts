/** Latency percentiles over the most recent requests: a fixed ring, so memory never grows. */
export class LatencyWindow {
  private readonly ring: Float64Array;
  private count = 0;
  private next = 0;

  constructor(size = 512) {
    this.ring = new Float64Array(size);
  }

  record(ms: number): void {
    this.ring[this.next] = ms;
    this.next = (this.next + 1) % this.ring.length;
    if (this.count < this.ring.length) this.count++;
  }

  /** p50/p95/p99 in ms over the window, or null before the first request. Sorting 512 numbers on a status call is cheap. */
  percentiles(): { p50: number; p95: number; p99: number; samples: number } | null {
    if (this.count === 0) return null;
    const sorted = Array.from(this.ring.subarray(0, this.count)).sort((a, b) => a - b);
    const at = (q: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 100) / 100;
    return { p50: at(0.5), p95: at(0.95), p99: at(0.99), samples: this.count };
  }
}
