import { History } from "./history.js";
import { ExpressionError } from "./lexer.js";
import { flattenChain, parse, type Node } from "./parser.js";
import { Kind, type Val, type ValueTable } from "./values.js";
import { FUNCTIONS } from "./functions.js";
import { parseDuration } from "./duration-text.js";

/**
 * Compiles a syntax tree once into closures over the value table. Types are checked where they are
 * known at compile time (literals, operators, functions); a point's value may be of any type, so it is
 * converted at run time (a boolean counts as 1/0 in arithmetic, a number as "not zero" in logic, a
 * decimal string as its number) and anything that cannot be converted is Unknown.
 */

export type StaticType = "num" | "bool" | "str" | "any";

export interface Compiled {
  fn: () => Val;
  type: StaticType;
}

/** What a compiled rule needs from the engine's data, collected while compiling. */
export interface CompileEnv {
  readonly table: ValueTable;
  /** History per slot, created on demand by window functions (shared by every rule reading it). */
  readonly histories: Array<History | undefined>;
  readonly historyCap: number;
  /** Staleness bound of the rule being compiled (0 = none). */
  readonly staleAfter: number;
}

/** The points an expression reads and whether it depends on the passing of time alone. */
export interface Dependencies {
  slots: Set<number>;
  timeDependent: boolean;
}

const MAX_HISTORY_WINDOW_MS = 24 * 3_600_000;

export class Compiler {
  readonly deps: Dependencies = { slots: new Set(), timeDependent: false };

  constructor(readonly env: CompileEnv) {}

  expression(source: string): Compiled {
    return this.node(parse(source));
  }

  node(n: Node): Compiled {
    switch (n.t) {
      case "num":
        return constant(n.v, "num");
      case "str":
        return constant(n.v, "str");
      case "bool":
        return constant(n.v, "bool");
      case "point":
        return { fn: this.pointReader(this.slot(n)), type: "any" };
      case "neg": {
        const a = this.num(n.arg);
        return { fn: () => { const x = a(); return x === undefined ? undefined : -x; }, type: "num" };
      }
      case "not": {
        const a = this.bool(n.arg);
        return { fn: () => { const x = a(); return x === undefined ? undefined : !x; }, type: "bool" };
      }
      case "bin":
        return this.binary(n);
      case "call": {
        const spec = FUNCTIONS.get(n.name);
        if (!spec) {
          throw new ExpressionError(n.pos, `unknown function "${n.name}" (available: ${[...FUNCTIONS.keys()].join(", ")}, point)`);
        }
        if (n.args.length < spec.minArgs || n.args.length > spec.maxArgs) {
          const want = spec.minArgs === spec.maxArgs ? `${spec.minArgs}` : spec.maxArgs === Infinity ? `at least ${spec.minArgs}` : `${spec.minArgs} to ${spec.maxArgs}`;
          throw new ExpressionError(n.pos, `${n.name}() takes ${want} argument(s), got ${n.args.length}`);
        }
        return spec.compile(n.args, n, this);
      }
    }
  }

  /** The slot of a point reference node, checked against the known point set. */
  slot(n: Node): number {
    if (n.t !== "point") throw new ExpressionError(n.pos, "expected a point reference here");
    const slot = this.env.table.slots.get(n.id);
    if (slot === undefined) throw new ExpressionError(n.pos, `unknown point "${n.id}"`);
    this.deps.slots.add(slot);
    return slot;
  }

  /** A duration given as a string literal ("30s"), in ms. */
  duration(n: Node | undefined, what: string): number {
    if (!n || n.t !== "str") throw new ExpressionError(n?.pos ?? 0, `${what} must be a quoted duration such as "30s"`);
    const ms = parseDuration(n.v);
    if (ms === null || ms <= 0) throw new ExpressionError(n.pos, `${JSON.stringify(n.v)} is not a duration (use "500ms", "10s", "2m", "1h")`);
    if (ms > MAX_HISTORY_WINDOW_MS) throw new ExpressionError(n.pos, `a window is at most 24h, got ${JSON.stringify(n.v)}`);
    return ms;
  }

  /** The history of a slot, kept for at least windowMs; makes the expression time-dependent. */
  history(slot: number, windowMs: number): History {
    this.deps.timeDependent = true;
    const existing = this.env.histories[slot];
    if (existing) {
      // One history per point, shared by every rule: it keeps the longest window anyone asks for.
      if (existing.keepMs < windowMs) existing.keepMs = windowMs;
      return existing;
    }
    const h = new History(windowMs, this.env.historyCap);
    this.env.histories[slot] = h;
    return h;
  }

  pointReader(slot: number): () => Val {
    const t = this.env.table;
    const { kind, num, ts, str } = t;
    const stale = this.env.staleAfter;
    // Two specialised readers, so a rule without staleAfter pays nothing for it.
    if (stale > 0) {
      return () => {
        const k = kind[slot];
        if (k === Kind.NONE || t.now - (ts[slot] as number) > stale) return undefined;
        return k === Kind.NUM ? num[slot] : k === Kind.BOOL ? num[slot] !== 0 : str[slot];
      };
    }
    return () => {
      const k = kind[slot];
      if (k === Kind.NONE) return undefined;
      return k === Kind.NUM ? num[slot] : k === Kind.BOOL ? num[slot] !== 0 : str[slot];
    };
  }

  /**
   * A point read as a number in one closure (no generic read + conversion pair): booleans are stored
   * as 1/0 and decimal strings as their number (NaN when not numeric), so one array read covers all.
   */
  numReader(slot: number): () => number | undefined {
    const t = this.env.table;
    const { kind, num, ts } = t;
    const stale = this.env.staleAfter;
    if (stale > 0) {
      return () => {
        if (kind[slot] === NONE || t.now - (ts[slot] as number) > stale) return undefined;
        const v = num[slot] as number;
        return v === v ? v : undefined;
      };
    }
    return () => {
      if (kind[slot] === NONE) return undefined;
      const v = num[slot] as number;
      return v === v ? v : undefined;
    };
  }

  /** A numeric operand: refused at compile time when it can only be a boolean or a string. */
  num(n: Node): () => number | undefined {
    if (n.t === "point") return this.numReader(this.slot(n));
    const c = this.node(n);
    if (c.type === "num") return c.fn as () => number | undefined;
    if (c.type !== "any") throw new ExpressionError(n.pos, `expected a number, found a ${typeName(c.type)}`);
    const f = c.fn;
    return () => toNum(f());
  }

  /** A condition operand: refused at compile time when it can only be a number or a string. */
  bool(n: Node): () => boolean | undefined {
    if (n.t === "point") {
      const slot = this.slot(n);
      const t = this.env.table;
      const { kind, num, ts } = t;
      const stale = this.env.staleAfter;
      return () => {
        const k = kind[slot];
        if (k === NONE || k === STR || (stale > 0 && t.now - (ts[slot] as number) > stale)) return undefined;
        return num[slot] !== 0;
      };
    }
    const c = this.node(n);
    if (c.type === "bool") return c.fn as () => boolean | undefined;
    if (c.type !== "any") throw new ExpressionError(n.pos, `expected a condition (true/false), found a ${typeName(c.type)}`);
    const f = c.fn;
    return () => toBool(f());
  }

  private binary(n: Extract<Node, { t: "bin" }>): Compiled {
    const op = n.op;
    if (op === "and" || op === "or") {
      // `a or b or c` is one closure looping over its operands rather than a chain of nested ones:
      // fewer calls per evaluation, which is most of the cost of a closure tree.
      const operands = flattenChain(n, op);
      const fs = operands.map((o) => this.bool(o));
      const count = fs.length;
      // Kleene logic: a decisive operand wins even when another one is Unknown.
      if (op === "and") {
        return {
          fn: () => {
            let unknown = false;
            for (let i = 0; i < count; i++) {
              const v = (fs[i] as () => boolean | undefined)();
              if (v === false) return false;
              if (v === undefined) unknown = true;
            }
            return unknown ? undefined : true;
          },
          type: "bool",
        };
      }
      return {
        fn: () => {
          let unknown = false;
          for (let i = 0; i < count; i++) {
            const v = (fs[i] as () => boolean | undefined)();
            if (v === true) return true;
            if (v === undefined) unknown = true;
          }
          return unknown ? undefined : false;
        },
        type: "bool",
      };
    }
    if (op === "==" || op === "!=") {
      const a = this.node(n.l);
      const b = this.node(n.r);
      if (a.type !== "any" && b.type !== "any" && a.type !== b.type && !(isNumBool(a.type) && isNumBool(b.type))) {
        throw new ExpressionError(n.pos, `cannot compare a ${typeName(a.type)} with a ${typeName(b.type)}`);
      }
      const fa = a.fn;
      const fb = b.fn;
      const neg = op === "!=";
      return {
        fn: () => {
          const r = equal(fa(), fb());
          return r === undefined ? undefined : r !== neg;
        },
        type: "bool",
      };
    }
    if (op === "<" || op === "<=" || op === ">" || op === ">=") {
      // `point > 80`, the most common shape of all, is a single closure reading the array directly.
      if (n.r.t === "num" && n.l.t === "point") return { fn: this.cmpPointConst(op, this.slot(n.l), n.r.v), type: "bool" };
      return { fn: cmpFn(op, this.num(n.l), this.num(n.r)), type: "bool" };
    }
    return { fn: arithFn(op, this.num(n.l), this.num(n.r)), type: "num" };
  }

  private cmpPointConst(op: "<" | "<=" | ">" | ">=", slot: number, c: number): () => boolean | undefined {
    const t = this.env.table;
    const { kind, num, ts } = t;
    const stale = this.env.staleAfter;
    const known = stale > 0 ? () => kind[slot] !== NONE && t.now - (ts[slot] as number) <= stale : () => kind[slot] !== NONE;
    // NaN (a non-numeric string) compares false both ways, so check it explicitly: it is Unknown.
    switch (op) {
      case "<":
        return () => { const v = num[slot] as number; return known() && v === v ? v < c : undefined; };
      case "<=":
        return () => { const v = num[slot] as number; return known() && v === v ? v <= c : undefined; };
      case ">":
        return () => { const v = num[slot] as number; return known() && v === v ? v > c : undefined; };
      case ">=":
        return () => { const v = num[slot] as number; return known() && v === v ? v >= c : undefined; };
    }
  }
}

const NONE = Kind.NONE;
const STR = Kind.STR;

type NumFn = () => number | undefined;

/** One closure literal per operator (no operator callback), so each call site stays monomorphic. */
function cmpFn(op: "<" | "<=" | ">" | ">=", a: NumFn, b: NumFn): () => boolean | undefined {
  switch (op) {
    case "<":
      return () => { const x = a(); if (x === undefined) return undefined; const y = b(); return y === undefined ? undefined : x < y; };
    case "<=":
      return () => { const x = a(); if (x === undefined) return undefined; const y = b(); return y === undefined ? undefined : x <= y; };
    case ">":
      return () => { const x = a(); if (x === undefined) return undefined; const y = b(); return y === undefined ? undefined : x > y; };
    case ">=":
      return () => { const x = a(); if (x === undefined) return undefined; const y = b(); return y === undefined ? undefined : x >= y; };
  }
}

// x / 0, x % 0 and overflow have no meaningful value: Unknown, never Infinity or NaN.
const fin = (r: number): number | undefined => (r - r === 0 ? r : undefined);

function arithFn(op: "+" | "-" | "*" | "/" | "%", a: NumFn, b: NumFn): NumFn {
  switch (op) {
    case "+":
      return () => { const x = a(); if (x === undefined) return undefined; const y = b(); return y === undefined ? undefined : fin(x + y); };
    case "-":
      return () => { const x = a(); if (x === undefined) return undefined; const y = b(); return y === undefined ? undefined : fin(x - y); };
    case "*":
      return () => { const x = a(); if (x === undefined) return undefined; const y = b(); return y === undefined ? undefined : fin(x * y); };
    case "/":
      return () => { const x = a(); if (x === undefined) return undefined; const y = b(); return y === undefined ? undefined : fin(x / y); };
    case "%":
      return () => { const x = a(); if (x === undefined) return undefined; const y = b(); return y === undefined ? undefined : fin(x % y); };
  }
}

function constant(v: Val, type: StaticType): Compiled {
  return { fn: () => v, type };
}

const isNumBool = (t: StaticType) => t === "num" || t === "bool";

export function typeName(t: StaticType): string {
  return t === "num" ? "number" : t === "bool" ? "condition (true/false)" : t === "str" ? "string" : "value";
}

export function toNum(v: Val): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string") {
    const n = v.trim() === "" ? Number.NaN : Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export function toBool(v: Val): boolean | undefined {
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  return undefined;
}

/** Equality across the types a point may hold: 1 == true, "42" == 42; Unknown when either side is. */
function equal(x: Val, y: Val): boolean | undefined {
  if (x === undefined || y === undefined) return undefined;
  if (typeof x === typeof y) return x === y;
  if (typeof x === "string" || typeof y === "string") {
    const a = toNum(x);
    const b = toNum(y);
    return a !== undefined && a === b;
  }
  return toNum(x) === toNum(y);
}
