import type { Compiler, StaticType } from "./compile.js";
import { toBool, toNum } from "./compile.js";
import type { History } from "./history.js";
import { windowNumber, type WindowFn } from "./history.js";
import { flattenChain, type Node } from "./parser.js";
import { Kind, type Val, type ValueTable } from "./values.js";

/**
 * Rule conditions compiled a second time, into a flat instruction array run by one small interpreter
 * loop: the hot path of the engine. Closures (compile.ts) return their numbers boxed and call each
 * other through megamorphic sites; here every value is a double on a preallocated Float64Array stack,
 * so an evaluation allocates nothing and runs one monomorphic function.
 *
 * Values: a number is itself, a condition is 1 (true) or 0 (false), and Unknown is NaN. The closure
 * compiler runs first on the same tree and does every check (types, points, arity, durations); this
 * pass only translates a tree already accepted, with the same semantics. The few shapes whose value
 * may be a string (== on a point, known() of an `if`) call that node's closure instead (CALL ops).
 * The instructions are our own opcodes over our own arrays: no code is ever built from text.
 */

const OP = {
  CONST: 0, // k: push consts[k]
  PNUM: 1, // slot: a point as a number
  PBOOL: 2, // slot: a point as a condition
  PKNOWN: 3, // slot: 1 when the point has a value, else 0
  DELTA: 4, // slot: change since the previous good sample
  WIN: 5, // fn, h, k: window aggregate over histories[h], window consts[k] ms
  NEG: 6,
  NOT: 7,
  ISKNOWN: 8,
  TOBOOL: 9,
  ADD: 10,
  SUB: 11,
  MUL: 12,
  DIV: 13,
  MOD: 14,
  LT: 15,
  LE: 16,
  GT: 17,
  GE: 18,
  EQ: 19,
  NE: 20,
  ABS: 21,
  FLOOR: 22,
  CEIL: 23,
  ROUND: 24, // two operands: value, digits
  MIN: 25, // n
  MAX: 26, // n
  CLAMP: 27,
  AND: 28, // target: one operand of an `and`; jumps to target when it is false
  OR: 29, // target: one operand of an `or`; jumps to target when it is true
  BRANCH: 30, // else, end: pops the condition of an if(); Unknown pushes NaN and jumps to end
  JMP: 31, // target
  CALLN: 32, // f: a closure's value as a number
  CALLB: 33, // f: a closure's value as a condition
  // `point <op> constant`, the commonest comparison, in one instruction: slot, k.
  PLT: 34,
  PLE: 35,
  PGT: 36,
  PGE: 37,
} as const;

const WINDOW_CODES: readonly WindowFn[] = ["avg", "min", "max", "count", "rate", "delta"];

/** A compiled condition or number: run with evalNative(). */
export interface NativeProgram {
  readonly code: Int32Array;
  readonly consts: Float64Array;
  /** Sized to the deepest the program's stack gets. */
  readonly stack: Float64Array;
  readonly histories: readonly History[];
  readonly fns: ReadonlyArray<() => Val>;
  /** The rule's staleAfter (0 = never stale). */
  readonly stale: number;
  readonly table: ValueTable;
}

type Want = "num" | "bool";

/** The static type the closure compiler gives a node (compile.ts), which decides the conversions. */
function typeOf(n: Node): StaticType {
  switch (n.t) {
    case "num":
      return "num";
    case "str":
      return "str";
    case "bool":
    case "not":
      return "bool";
    case "point":
      return "any";
    case "neg":
      return "num";
    case "bin":
      return n.op === "+" || n.op === "-" || n.op === "*" || n.op === "/" || n.op === "%" ? "num" : "bool";
    case "call":
      if (n.name === "known") return "bool";
      if (n.name === "if") {
        const a = typeOf(n.args[1] as Node);
        return a === typeOf(n.args[2] as Node) ? a : "any";
      }
      return "num";
  }
}

class Emitter {
  readonly code: number[] = [];
  readonly consts: number[] = [];
  readonly histories: History[] = [];
  readonly fns: Array<() => Val> = [];
  private depth = 0;
  maxDepth = 0;

  constructor(private readonly cx: Compiler) {}

  private push(n = 1): void {
    this.depth += n;
    if (this.depth > this.maxDepth) this.maxDepth = this.depth;
  }

  private konst(v: number): number {
    this.consts.push(v);
    return this.consts.length - 1;
  }

  private op(code: number, ...args: number[]): void {
    this.code.push(code, ...args);
  }

  /** Emits code leaving on the stack the node's value as num() or bool() of compile.ts would read it. */
  emit(n: Node, want: Want): void {
    this.natural(n, want);
    // A number read as a condition (an if() branch): true when not 0, as toBool does.
    if (want === "bool" && typeOf(n) === "num") this.op(OP.TOBOOL);
  }

  private natural(n: Node, want: Want): void {
    switch (n.t) {
      case "num":
        this.op(OP.CONST, this.konst(n.v));
        this.push();
        return;
      case "bool":
        this.op(OP.CONST, this.konst(n.v ? 1 : 0));
        this.push();
        return;
      case "str": {
        // Only reachable as an if() branch: a decimal string is its number, never a condition.
        const v = want === "num" ? toNum(n.v) : undefined;
        this.op(OP.CONST, this.konst(v === undefined ? Number.NaN : v));
        this.push();
        return;
      }
      case "point":
        this.op(want === "num" ? OP.PNUM : OP.PBOOL, this.cx.slot(n));
        this.push();
        return;
      case "neg":
        this.emit(n.arg, "num");
        this.op(OP.NEG);
        return;
      case "not":
        this.emit(n.arg, "bool");
        this.op(OP.NOT);
        return;
      case "bin":
        this.binary(n);
        return;
      case "call":
        this.call(n, want);
        return;
    }
  }

  private binary(n: Extract<Node, { t: "bin" }>): void {
    const op = n.op;
    if (op === "and" || op === "or") {
      const operands = flattenChain(n, op);
      // Start from the neutral value; each operand folds into it (Kleene), a decisive one jumps out.
      this.op(OP.CONST, this.konst(op === "and" ? 1 : 0));
      this.push();
      const patches: number[] = [];
      for (const o of operands) {
        this.emit(o, "bool");
        this.op(op === "and" ? OP.AND : OP.OR, -1);
        patches.push(this.code.length - 1);
        this.depth--;
      }
      for (const at of patches) this.code[at] = this.code.length;
      return;
    }
    if (op === "==" || op === "!=") {
      const lt = typeOf(n.l);
      const rt = typeOf(n.r);
      const numeric = (t: StaticType) => t === "num" || t === "bool";
      if (!numeric(lt) || !numeric(rt)) {
        // A point or string may hold text: "abc" == "abc" compares strings, which only Val can.
        this.closure(n, "bool");
        return;
      }
      this.emit(n.l, "num");
      this.emit(n.r, "num");
      this.op(op === "==" ? OP.EQ : OP.NE);
      this.depth--;
      return;
    }
    if (op === "<" || op === "<=" || op === ">" || op === ">=") {
      if (n.l.t === "point" && n.r.t === "num") {
        const code = op === "<" ? OP.PLT : op === "<=" ? OP.PLE : op === ">" ? OP.PGT : OP.PGE;
        this.op(code, this.cx.slot(n.l), this.konst(n.r.v));
        this.push();
        return;
      }
      this.emit(n.l, "num");
      this.emit(n.r, "num");
      this.op(op === "<" ? OP.LT : op === "<=" ? OP.LE : op === ">" ? OP.GT : OP.GE);
      this.depth--;
      return;
    }
    this.emit(n.l, "num");
    this.emit(n.r, "num");
    this.op(op === "+" ? OP.ADD : op === "-" ? OP.SUB : op === "*" ? OP.MUL : op === "/" ? OP.DIV : OP.MOD);
    this.depth--;
  }

  private call(n: Extract<Node, { t: "call" }>, want: Want): void {
    const args = n.args;
    const arg = (i: number) => args[i] as Node;
    switch (n.name) {
      case "abs":
      case "floor":
      case "ceil":
        this.emit(arg(0), "num");
        this.op(n.name === "abs" ? OP.ABS : n.name === "floor" ? OP.FLOOR : OP.CEIL);
        return;
      case "round":
        this.emit(arg(0), "num");
        if (args.length > 1) this.emit(arg(1), "num");
        else {
          this.op(OP.CONST, this.konst(0));
          this.push();
        }
        this.op(OP.ROUND);
        this.depth--;
        return;
      case "min":
      case "max":
        if (args.length === 2 && arg(0).t === "point" && arg(1).t === "str") {
          this.window(n.name, n);
          return;
        }
        for (const a of args) this.emit(a, "num");
        this.op(n.name === "min" ? OP.MIN : OP.MAX, args.length);
        this.depth -= args.length - 1;
        return;
      case "clamp":
        for (const a of args) this.emit(a, "num");
        this.op(OP.CLAMP);
        this.depth -= 2;
        return;
      case "rate":
      case "avg":
      case "count":
        this.window(n.name, n);
        return;
      case "delta":
        if (args.length === 2) this.window("delta", n);
        else {
          this.op(OP.DELTA, this.cx.slot(arg(0)));
          this.push();
        }
        return;
      case "if": {
        this.emit(arg(0), "bool");
        this.op(OP.BRANCH, -1, -1);
        const at = this.code.length - 2;
        this.depth--;
        const base = this.depth;
        this.emit(arg(1), want);
        this.op(OP.JMP, -1);
        const jmp = this.code.length - 1;
        this.code[at] = this.code.length;
        this.depth = base;
        this.emit(arg(2), want);
        this.code[at + 1] = this.code.length;
        this.code[jmp] = this.code.length;
        return;
      }
      case "known": {
        const x = arg(0);
        const t = typeOf(x);
        if (x.t === "point") {
          this.op(OP.PKNOWN, this.cx.slot(x));
          this.push();
        } else if (t === "num" || t === "bool") {
          this.emit(x, "num");
          this.op(OP.ISKNOWN);
        } else if (t === "str") {
          this.op(OP.CONST, this.konst(1));
          this.push();
        } else this.closure(n, "bool"); // an if() that may yield text: Val knows
        return;
      }
      default:
        // Every function of functions.ts is handled above; a new one works through its closure.
        this.closure(n, want);
    }
  }

  private window(fn: WindowFn, n: Extract<Node, { t: "call" }>): void {
    const slot = this.cx.slot(n.args[0] as Node);
    const ms = this.cx.duration(n.args[1], `the window of ${n.name}()`);
    this.histories.push(this.cx.history(slot, ms));
    this.op(OP.WIN, WINDOW_CODES.indexOf(fn), this.histories.length - 1, this.konst(ms));
    this.push();
  }

  private closure(n: Node, want: Want): void {
    this.fns.push(this.cx.node(n).fn);
    this.op(want === "num" ? OP.CALLN : OP.CALLB, this.fns.length - 1);
    this.push();
  }
}

/**
 * Translates a tree the closure compiler accepted (call it after `cx.node(tree)` succeeded: errors
 * are raised there, with the same messages as before) into a program giving `want` of the tree.
 */
export function compileNative(tree: Node, want: Want, cx: Compiler): NativeProgram {
  const e = new Emitter(cx);
  e.emit(tree, want);
  return {
    code: Int32Array.from(e.code),
    consts: Float64Array.from(e.consts),
    stack: new Float64Array(Math.max(1, e.maxDepth)),
    histories: e.histories,
    fns: e.fns,
    stale: cx.env.staleAfter,
    table: cx.env.table,
  };
}

const NONE = Kind.NONE;
const NUM = Kind.NUM;
const STR = Kind.STR;
const NaN_ = Number.NaN;

/** Runs a program: its value, NaN for Unknown (a condition is 1 or 0). Allocates nothing. */
export function evalNative(p: NativeProgram): number {
  const code = p.code;
  const k = p.consts;
  const st = p.stack;
  const t = p.table;
  const kind = t.kind;
  const num = t.num;
  const ts = t.ts;
  const stale = p.stale;
  const now = t.now;
  const end = code.length;
  let sp = -1;
  let pc = 0;
  while (pc < end) {
    const op = code[pc] as number;
    switch (op) {
      case OP.CONST:
        st[++sp] = k[code[pc + 1] as number] as number;
        pc += 2;
        break;
      case OP.PNUM: {
        const s = code[pc + 1] as number;
        st[++sp] = kind[s] === NONE || (stale > 0 && now - (ts[s] as number) > stale) ? NaN_ : (num[s] as number);
        pc += 2;
        break;
      }
      case OP.PBOOL: {
        const s = code[pc + 1] as number;
        const kd = kind[s];
        st[++sp] = kd === NONE || kd === STR || (stale > 0 && now - (ts[s] as number) > stale) ? NaN_ : num[s] !== 0 ? 1 : 0;
        pc += 2;
        break;
      }
      case OP.PLT:
      case OP.PLE:
      case OP.PGT:
      case OP.PGE: {
        const s = code[pc + 1] as number;
        const v = num[s] as number;
        // NaN (a non-numeric string) compares false both ways: Unknown, like a missing value.
        if (kind[s] === NONE || v !== v || (stale > 0 && now - (ts[s] as number) > stale)) st[++sp] = NaN_;
        else {
          const c = k[code[pc + 2] as number] as number;
          st[++sp] = (op === OP.PLT ? v < c : op === OP.PLE ? v <= c : op === OP.PGT ? v > c : v >= c) ? 1 : 0;
        }
        pc += 3;
        break;
      }
      case OP.PKNOWN: {
        const s = code[pc + 1] as number;
        st[++sp] = kind[s] === NONE || (stale > 0 && now - (ts[s] as number) > stale) ? 0 : 1;
        pc += 2;
        break;
      }
      case OP.DELTA: {
        const s = code[pc + 1] as number;
        // Only a number has a delta (as the closure: a boolean or text reads as Unknown).
        if (kind[s] !== NUM || (stale > 0 && now - (ts[s] as number) > stale)) st[++sp] = NaN_;
        else {
          const d = (num[s] as number) - (t.prevNum[s] as number);
          st[++sp] = d - d === 0 ? d : NaN_;
        }
        pc += 2;
        break;
      }
      case OP.WIN:
        st[++sp] = windowNumber(p.histories[code[pc + 2] as number] as History, WINDOW_CODES[code[pc + 1] as number] as WindowFn, now, k[code[pc + 3] as number] as number);
        pc += 4;
        break;
      case OP.NEG:
        st[sp] = -(st[sp] as number);
        pc++;
        break;
      case OP.NOT: {
        const v = st[sp] as number;
        st[sp] = v !== v ? NaN_ : v === 0 ? 1 : 0;
        pc++;
        break;
      }
      case OP.ISKNOWN: {
        const v = st[sp] as number;
        st[sp] = v === v ? 1 : 0;
        pc++;
        break;
      }
      case OP.TOBOOL: {
        const v = st[sp] as number;
        st[sp] = v !== v ? NaN_ : v !== 0 ? 1 : 0;
        pc++;
        break;
      }
      case OP.ADD:
      case OP.SUB:
      case OP.MUL:
      case OP.DIV:
      case OP.MOD: {
        const b = st[sp--] as number;
        const a = st[sp] as number;
        const r = op === OP.ADD ? a + b : op === OP.SUB ? a - b : op === OP.MUL ? a * b : op === OP.DIV ? a / b : a % b;
        // x / 0, x % 0 and overflow have no meaningful value: Unknown (NaN), never Infinity.
        st[sp] = r - r === 0 ? r : NaN_;
        pc++;
        break;
      }
      case OP.LT:
      case OP.LE:
      case OP.GT:
      case OP.GE:
      case OP.EQ:
      case OP.NE: {
        const b = st[sp--] as number;
        const a = st[sp] as number;
        if (a !== a || b !== b) st[sp] = NaN_;
        else st[sp] = (op === OP.LT ? a < b : op === OP.LE ? a <= b : op === OP.GT ? a > b : op === OP.GE ? a >= b : op === OP.EQ ? a === b : a !== b) ? 1 : 0;
        pc++;
        break;
      }
      case OP.ABS:
      case OP.FLOOR:
      case OP.CEIL: {
        const v = st[sp] as number;
        st[sp] = op === OP.ABS ? Math.abs(v) : op === OP.FLOOR ? Math.floor(v) : Math.ceil(v);
        pc++;
        break;
      }
      case OP.ROUND: {
        const d = st[sp--] as number;
        const x = st[sp] as number;
        if (x !== x || d !== d) st[sp] = NaN_;
        else {
          const m = 10 ** Math.max(0, Math.min(10, Math.trunc(d)));
          const r = Math.round(x * m) / m;
          st[sp] = r - r === 0 ? r : NaN_;
        }
        pc++;
        break;
      }
      case OP.MIN:
      case OP.MAX: {
        const n = code[pc + 1] as number;
        const base = sp - n + 1;
        let acc = op === OP.MIN ? Infinity : -Infinity;
        for (let i = base; i <= sp; i++) {
          const x = st[i] as number;
          if (x !== x) {
            acc = NaN_;
            break;
          }
          if (op === OP.MIN ? x < acc : x > acc) acc = x;
        }
        sp = base;
        st[sp] = acc;
        pc += 2;
        break;
      }
      case OP.CLAMP: {
        const hi = st[sp--] as number;
        const lo = st[sp--] as number;
        const v = st[sp] as number;
        st[sp] = v !== v || lo !== lo || hi !== hi ? NaN_ : v < lo ? lo : v > hi ? hi : v;
        pc++;
        break;
      }
      case OP.AND: {
        // Kleene: false decides at once; Unknown makes the result Unknown unless a false follows.
        const v = st[sp--] as number;
        if (v === 0) {
          st[sp] = 0;
          pc = code[pc + 1] as number;
        } else {
          if (v !== v) st[sp] = NaN_;
          pc += 2;
        }
        break;
      }
      case OP.OR: {
        const v = st[sp--] as number;
        if (v === 1) {
          st[sp] = 1;
          pc = code[pc + 1] as number;
        } else {
          if (v !== v) st[sp] = NaN_;
          pc += 2;
        }
        break;
      }
      case OP.BRANCH: {
        const c = st[sp--] as number;
        if (c !== c) {
          st[++sp] = NaN_;
          pc = code[pc + 2] as number;
        } else if (c === 0) pc = code[pc + 1] as number;
        else pc += 3;
        break;
      }
      case OP.JMP:
        pc = code[pc + 1] as number;
        break;
      case OP.CALLN:
      case OP.CALLB: {
        const v = (p.fns[code[pc + 1] as number] as () => Val)();
        const x = op === OP.CALLN ? toNum(v) : toBool(v);
        st[++sp] = x === undefined ? NaN_ : x === true ? 1 : x === false ? 0 : x;
        pc += 2;
        break;
      }
      default:
        throw new Error(`rules: bad instruction ${op} at ${pc}`);
    }
  }
  return st[0] as number;
}
