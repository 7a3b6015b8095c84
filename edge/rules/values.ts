import type { Sample, SampleValue } from "../model.js";

/**
 * The engine's current-value table: one slot per known point, in flat typed arrays so the hot path
 * (thousands of evaluations per sample burst) touches no Map and allocates nothing.
 *
 * A value inside the evaluator is `Val`: a number, boolean or string, or `undefined` for Unknown
 * (missing, bad quality, stale, or an operation without a meaningful result such as x / 0).
 */
export type Val = number | boolean | string | undefined;

/** What a slot holds; NONE covers "never seen" and "last sample had bad quality or no value". */
export const Kind = { NONE: 0, NUM: 1, BOOL: 2, STR: 3 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export class ValueTable {
  /** Engine time of the evaluation in progress (ms epoch); closures read it for staleness and windows. */
  now = 0;
  readonly kind: Uint8Array;
  /** Numbers, and booleans as 1/0. */
  readonly num: Float64Array;
  /** Timestamp of the last sample (any quality), NaN when none. */
  readonly ts: Float64Array;
  /** String values (int64 registers as decimal text, enum texts); sparse. */
  readonly str: Array<string | undefined>;
  /** The good value before the newest good one per slot, for delta(p) without a window (NaN: none yet). */
  readonly prevNum: Float64Array;
  /**
   * The newest good numeric value per slot (NaN: none yet). Kept apart from `num`, which a bad sample
   * leaves stale, so that the next good sample still knows what it follows.
   */
  readonly lastGood: Float64Array;
  readonly slots: ReadonlyMap<string, number>;
  readonly ids: readonly string[];

  constructor(ids: readonly string[]) {
    this.ids = ids;
    this.slots = new Map(ids.map((id, i) => [id, i]));
    const n = ids.length;
    this.kind = new Uint8Array(n);
    this.num = new Float64Array(n);
    this.ts = new Float64Array(n).fill(Number.NaN);
    this.prevNum = new Float64Array(n).fill(Number.NaN);
    this.lastGood = new Float64Array(n).fill(Number.NaN);
    this.str = new Array<string | undefined>(n);
  }

  /** Stores a sample; true when what a rule would read changed (value, kind or usability). */
  set(slot: number, s: Sample): boolean {
    const before = this.kind[slot] as Kind;
    const beforeNum = this.num[slot] as number;
    const beforeStr = this.str[slot];
    this.ts[slot] = s.ts;
    const v = s.value;
    if (s.quality === "bad" || v === null) {
      this.kind[slot] = Kind.NONE;
      return before !== Kind.NONE;
    }
    if (typeof v === "number") {
      if (!Number.isFinite(v)) {
        this.kind[slot] = Kind.NONE;
        return before !== Kind.NONE;
      }
      this.kind[slot] = Kind.NUM;
      this.num[slot] = v;
    } else if (typeof v === "boolean") {
      this.kind[slot] = Kind.BOOL;
      this.num[slot] = v ? 1 : 0;
    } else {
      this.kind[slot] = Kind.STR;
      this.str[slot] = v;
      // Decimal text of a big integer still compares and computes as a (rounded) number.
      const n = v.trim() === "" ? Number.NaN : Number(v);
      this.num[slot] = Number.isFinite(n) ? n : Number.NaN;
    }
    // delta(p) compares with the previous good value, so a bad reading in between is skipped over:
    // 10, 20, bad, 30 gives 10. Only a usable number moves the pair along.
    const now = this.num[slot] as number;
    if (now === now) {
      this.prevNum[slot] = this.lastGood[slot] as number;
      this.lastGood[slot] = now;
    }
    const k = this.kind[slot] as Kind;
    if (k !== before) return true;
    return k === Kind.STR ? this.str[slot] !== beforeStr : this.num[slot] !== beforeNum;
  }

  /** The value a rule reads from a slot, Unknown when unusable or older than staleAfter (0 = never stale). */
  read(slot: number, staleAfter: number): Val {
    const k = this.kind[slot];
    if (k === Kind.NONE) return undefined;
    if (staleAfter > 0 && this.now - (this.ts[slot] as number) > staleAfter) return undefined;
    if (k === Kind.NUM) return this.num[slot];
    if (k === Kind.BOOL) return this.num[slot] !== 0;
    return this.str[slot];
  }

  /** The current value as a plain sample value (for messages and reports), null when unknown. */
  plain(slot: number): SampleValue | null {
    const v = this.read(slot, 0);
    return v === undefined ? null : v;
  }
}
