/**
 * Recent good numeric samples of one point, for the window functions (rate, avg, min, max, count,
 * delta). A ring of two typed arrays that grows up to a cap: memory is bounded whatever the sample
 * rate, and a point nobody windows over has no history at all.
 */
export class History {
  private t: Float64Array;
  private v: Float64Array;
  private head = 0; // index of the oldest entry
  private size = 0;

  constructor(
    /** Longest window any rule asks of this point (ms); older samples are dropped. Raised, never lowered, by a reload. */
    public keepMs: number,
    /** Most samples kept; beyond it the oldest go (a window then covers less than asked, see README). */
    readonly cap: number,
  ) {
    const initial = Math.min(cap, 16);
    this.t = new Float64Array(initial);
    this.v = new Float64Array(initial);
  }

  get length(): number {
    return this.size;
  }

  push(ts: number, value: number): void {
    // Samples out of time order (a device clock stepping back) are ignored: windows assume order.
    if (this.size > 0 && ts < this.tsAt(this.size - 1)) return;
    this.prune(ts);
    if (this.size === this.t.length) {
      if (this.t.length < this.cap) this.grow();
      else {
        this.head = (this.head + 1) % this.t.length;
        this.size--;
      }
    }
    const i = (this.head + this.size) % this.t.length;
    this.t[i] = ts;
    this.v[i] = value;
    this.size++;
  }

  private prune(now: number): void {
    const oldest = now - this.keepMs;
    // Keep one sample older than the window: rate/delta over a window need the value at its start.
    while (this.size > 1 && this.tsAt(1) <= oldest) {
      this.head = (this.head + 1) % this.t.length;
      this.size--;
    }
  }

  private grow(): void {
    const n = Math.min(this.cap, this.t.length * 2);
    const t = new Float64Array(n);
    const v = new Float64Array(n);
    for (let k = 0; k < this.size; k++) {
      t[k] = this.tsAt(k);
      v[k] = this.valueAt(k);
    }
    this.t = t;
    this.v = v;
    this.head = 0;
  }

  tsAt(k: number): number {
    return this.t[(this.head + k) % this.t.length] as number;
  }

  valueAt(k: number): number {
    return this.v[(this.head + k) % this.t.length] as number;
  }

  /** Index of the first sample with ts >= from (size when none). */
  firstFrom(from: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tsAt(mid) < from) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export type WindowFn = "avg" | "min" | "max" | "count" | "rate" | "delta";

/**
 * A window aggregate over (now - windowMs, now]; undefined (Unknown) when the window has no sample
 * (count gives 0), or for rate/delta fewer than two samples to compare.
 */
export function windowValue(h: History, fn: WindowFn, now: number, windowMs: number): number | undefined {
  const v = windowNumber(h, fn, now, windowMs);
  return v === v ? v : undefined;
}

/** windowValue with NaN for Unknown: the compiled conditions (native.ts) keep numbers unboxed. */
export function windowNumber(h: History, fn: WindowFn, now: number, windowMs: number): number {
  const from = now - windowMs;
  let k = h.firstFrom(from);
  const n = h.length;
  // Samples stamped after `now` (a device clock ahead of ours) are left out too.
  let end = n;
  while (end > k && h.tsAt(end - 1) > now) end--;
  if (fn === "count") return end - k;
  if (fn === "rate" || fn === "delta") {
    // Measured from the newest sample at or before the window start when there is one, so a value
    // sampled every 10 s still has a rate over a 10 s window.
    if (k > 0) k--;
    if (end - k < 2) return Number.NaN;
    const dv = h.valueAt(end - 1) - h.valueAt(k);
    if (fn === "delta") return dv;
    const dt = (h.tsAt(end - 1) - h.tsAt(k)) / 1000;
    return dt > 0 ? dv / dt : Number.NaN;
  }
  if (end <= k) return Number.NaN;
  let acc = fn === "avg" ? 0 : h.valueAt(k);
  for (let j = k; j < end; j++) {
    const x = h.valueAt(j);
    if (fn === "avg") acc += x;
    else if (fn === "min") acc = x < acc ? x : acc;
    else acc = x > acc ? x : acc;
  }
  return fn === "avg" ? acc / (end - k) : acc;
}
