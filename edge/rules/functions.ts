import type { Compiled, Compiler } from "./compile.js";
import { ExpressionError } from "./lexer.js";
import type { Node } from "./parser.js";
import { windowValue, type WindowFn } from "./history.js";
import type { Val } from "./values.js";

/**
 * The closed set of functions an expression may call. A name not in this map is a compile error:
 * there is no way to reach a JavaScript function, object or property from rule text.
 */
export interface FunctionSpec {
  minArgs: number;
  maxArgs: number;
  /** One line for the README and error messages. */
  doc: string;
  compile(args: Node[], call: Extract<Node, { t: "call" }>, cx: Compiler): Compiled;
}

type NumFn = () => number | undefined;

const finite = (r: number): number | undefined => (Number.isFinite(r) ? r : undefined);

function unary(doc: string, f: (x: number) => number): FunctionSpec {
  return {
    minArgs: 1,
    maxArgs: 1,
    doc,
    compile(args, _call, cx) {
      const a = cx.num(args[0] as Node);
      return { fn: () => { const x = a(); return x === undefined ? undefined : finite(f(x)); }, type: "num" };
    },
  };
}

/** min/max: of numbers, or over a time window when called as min(point, "30s"). */
function extremum(name: "min" | "max"): FunctionSpec {
  const pick = name === "min" ? Math.min : Math.max;
  return {
    minArgs: 2,
    maxArgs: 16,
    doc: `${name}(a, b, ...) of numbers, or ${name}(point, "30s") over the window`,
    compile(args, call, cx) {
      if (args.length === 2 && args[0]?.t === "point" && args[1]?.t === "str") return windowed(name, args, call, cx);
      const fs: NumFn[] = args.map((a) => cx.num(a));
      return {
        fn: () => {
          let acc = name === "min" ? Infinity : -Infinity;
          for (const f of fs) {
            const x = f();
            if (x === undefined) return undefined;
            acc = pick(acc, x);
          }
          return acc;
        },
        type: "num",
      };
    },
  };
}

function windowed(fn: WindowFn, args: Node[], call: Extract<Node, { t: "call" }>, cx: Compiler): Compiled {
  const p = args[0] as Node;
  if (p.t !== "point") throw new ExpressionError(p.pos, `${call.name}() needs a point as its first argument`);
  const slot = cx.slot(p);
  const ms = cx.duration(args[1], `the window of ${call.name}()`);
  const h = cx.history(slot, ms);
  const t = cx.env.table;
  return { fn: () => windowValue(h, fn, t.now, ms), type: "num" };
}

function windowSpec(fn: WindowFn, doc: string): FunctionSpec {
  return { minArgs: 2, maxArgs: 2, doc, compile: (args, call, cx) => windowed(fn, args, call, cx) };
}

export const FUNCTIONS: ReadonlyMap<string, FunctionSpec> = new Map<string, FunctionSpec>([
  ["abs", unary("abs(x): absolute value", Math.abs)],
  ["floor", unary("floor(x): largest integer <= x", Math.floor)],
  ["ceil", unary("ceil(x): smallest integer >= x", Math.ceil)],
  [
    "round",
    {
      minArgs: 1,
      maxArgs: 2,
      doc: "round(x) to an integer, round(x, d) to d decimals (0..10)",
      compile(args, _call, cx) {
        const a = cx.num(args[0] as Node);
        const d = args[1] ? cx.num(args[1]) : () => 0;
        return {
          fn: () => {
            const x = a();
            const digits = d();
            if (x === undefined || digits === undefined) return undefined;
            const k = 10 ** Math.max(0, Math.min(10, Math.trunc(digits)));
            return finite(Math.round(x * k) / k);
          },
          type: "num",
        };
      },
    },
  ],
  ["min", extremum("min")],
  ["max", extremum("max")],
  [
    "clamp",
    {
      minArgs: 3,
      maxArgs: 3,
      doc: "clamp(x, lo, hi): x limited to [lo, hi]",
      compile(args, _call, cx) {
        const [x, lo, hi] = args.map((a) => cx.num(a)) as [NumFn, NumFn, NumFn];
        return {
          fn: () => {
            const v = x();
            const l = lo();
            const h = hi();
            if (v === undefined || l === undefined || h === undefined) return undefined;
            return v < l ? l : v > h ? h : v;
          },
          type: "num",
        };
      },
    },
  ],
  [
    "if",
    {
      minArgs: 3,
      maxArgs: 3,
      doc: "if(c, a, b): a when c is true, b when false, Unknown when c is Unknown",
      compile(args, _call, cx) {
        const c = cx.bool(args[0] as Node);
        const a = cx.node(args[1] as Node);
        const b = cx.node(args[2] as Node);
        const fa = a.fn;
        const fb = b.fn;
        return {
          fn: (): Val => {
            const x = c();
            return x === undefined ? undefined : x ? fa() : fb();
          },
          type: a.type === b.type ? a.type : "any",
        };
      },
    },
  ],
  [
    "known",
    {
      minArgs: 1,
      maxArgs: 1,
      doc: "known(x): true when x has a value (not Unknown); never Unknown itself",
      compile(args, _call, cx) {
        const a = cx.node(args[0] as Node).fn;
        return { fn: () => a() !== undefined, type: "bool" };
      },
    },
  ],
  ["rate", windowSpec("rate", 'rate(point, "10s"): change per second over the window')],
  ["avg", windowSpec("avg", 'avg(point, "30s"): mean of the samples in the window')],
  ["count", windowSpec("count", 'count(point, "30s"): number of good samples in the window (0 when none)')],
  [
    "delta",
    {
      minArgs: 1,
      maxArgs: 2,
      doc: 'delta(point): change since the previous sample; delta(point, "1m"): change over the window',
      compile(args, call, cx) {
        if (args.length === 2) return windowed("delta", args, call, cx);
        const p = args[0] as Node;
        if (p.t !== "point") throw new ExpressionError(p.pos, "delta() needs a point as its first argument");
        const slot = cx.slot(p);
        // A repeated value makes delta 0: the rule must see every sample, not only changes.
        cx.deps.timeDependent = true;
        const read = cx.pointReader(slot);
        const prev = cx.env.table.prevNum;
        return {
          fn: () => {
            const v = read();
            const before = prev[slot] as number;
            if (typeof v !== "number" || Number.isNaN(before)) return undefined;
            return finite(v - before);
          },
          type: "num",
        };
      },
    },
  ],
]);
