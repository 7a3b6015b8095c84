import { Compiler, type CompileEnv } from "./compile.js";
import { ExpressionError } from "./lexer.js";
import { compileTemplate, type Template } from "./template.js";
import type { RuleConfig, Severity } from "./schema.js";
import type { Val } from "./values.js";
import { parse } from "./parser.js";
import { compileNative, type NativeProgram } from "./native.js";

/** Where a rule came from: the config file, or the local API (persisted by the runtime). */
export type RuleSource = "config" | "api";

/** What the engine knows of a point, to check references and write limits at compile time. */
export interface RulePointInfo {
  id: string;
  writable?: boolean;
  writeMin?: number;
  writeMax?: number;
  unit?: string;
}

export type ActionOn = "raise" | "clear" | "active";

export type CompiledAction =
  | { type: "alarm"; index: number; severity: Severity; message: Template }
  | { type: "write"; index: number; on: ActionOn; point: string; value: () => Val; lo: number; hi: number }
  | { type: "set"; index: number; on: ActionOn; point: string; value: () => Val }
  | { type: "event"; index: number; on: ActionOn; name: string; severity: Severity; message: Template | null };

/** A rule compiled against one value table: its closures, what it reads, and its timing. */
export interface CompiledRule {
  config: RuleConfig;
  /** The conditions as instruction arrays (native.ts): 1 true, 0 false, NaN Unknown. */
  when: NativeProgram;
  clear: NativeProgram | null;
  /** Slots read by the condition, clear condition and templates (the triggering values). */
  reads: number[];
  /** Slots whose every sample re-evaluates the rule: its window functions need fresh samples. */
  timeDependent: boolean;
  actions: CompiledAction[];
}

/** The context a rule set compiles in: the table and the point facts of this load. */
export interface RuleCompileContext extends CompileEnv {
  points: ReadonlyMap<string, RulePointInfo>;
  virtual: ReadonlySet<string>;
}

/** Compiles one rule; every problem found is pushed to `problems` as `rule "id": field: column N: reason`. */
export function compileRule(rule: RuleConfig, cx: RuleCompileContext, problems: string[]): CompiledRule | null {
  const compiler = new Compiler({ ...cx, staleAfter: rule.staleAfter ?? 0 });
  const before = problems.length;
  const at = (field: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (err instanceof ExpressionError) problems.push(`rule "${rule.id}": ${field}: ${err.message}`);
      else if (err instanceof RuleFieldError) problems.push(`rule "${rule.id}": ${field}: ${err.message}`);
      else throw err;
    }
  };
  const condition = (field: string, text: string): NativeProgram | null => {
    let f: NativeProgram | null = null;
    at(field, () => {
      const tree = parse(text);
      // The closure compiler checks everything (types, points, functions) and reports the errors;
      // the tree it accepted is then translated for the hot path.
      const c = compiler.node(tree);
      if (c.type === "num" || c.type === "str") throw new RuleFieldError(`must be a condition (true/false), not a ${c.type === "num" ? "number" : "string"}`);
      // A point read directly as the condition (`when: pump.running`) follows the logic conversions.
      f = compileNative(tree, "bool", compiler);
    });
    return f;
  };
  const when = condition("when", rule.when);
  const clear = rule.clear !== undefined ? condition("clear", rule.clear) : null;
  const actions: CompiledAction[] = [];
  let alarms = 0;
  rule.actions.forEach((a, index) => {
    const field = `actions[${index}]`;
    at(field, () => {
      switch (a.type) {
        case "alarm":
          if (++alarms > 1) throw new RuleFieldError("a rule has at most one alarm");
          actions.push({ type: "alarm", index, severity: a.severity, message: within("message", () => compileTemplate(a.message ?? rule.description ?? `rule ${rule.id} active`, compiler)) });
          return;
        case "write": {
          const p = cx.points.get(a.point);
          if (!p) throw new RuleFieldError(cx.virtual.has(a.point) ? `"${a.point}" is a virtual point: use a set action` : `unknown point "${a.point}"`);
          if (!p.writable) throw new RuleFieldError(`point "${a.point}" is not writable (set writable: true on the point)`);
          const lo = Math.max(p.writeMin ?? -Infinity, a.min ?? -Infinity);
          const hi = Math.min(p.writeMax ?? Infinity, a.max ?? Infinity);
          if (lo > hi) throw new RuleFieldError(`the limits leave no value to write (min ${lo} > max ${hi})`);
          actions.push({ type: "write", index, on: a.on, point: a.point, value: valueOf(a.value, compiler), lo, hi });
          return;
        }
        case "set":
          if (!cx.virtual.has(a.point)) throw new RuleFieldError(`"${a.point}" is not a virtual point (declare it under virtualPoints)`);
          actions.push({ type: "set", index, on: a.on, point: a.point, value: valueOf(a.value, compiler) });
          return;
        case "event":
          actions.push({
            type: "event",
            index,
            on: a.on,
            name: a.name ?? rule.id,
            severity: a.severity,
            message: a.message !== undefined ? within("message", () => compileTemplate(a.message ?? "", compiler)) : null,
          });
          return;
      }
    });
  });
  if (problems.length > before || when === null) return null;
  return {
    config: rule,
    when,
    clear,
    reads: [...compiler.deps.slots].sort((x, y) => x - y),
    timeDependent: compiler.deps.timeDependent,
    actions,
  };
}

class RuleFieldError extends Error {}

/** Runs fn, naming the sub-field (`value`, `message`) in an expression error. */
function within<T>(sub: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ExpressionError) throw new RuleFieldError(`${sub}: ${err.message}`);
    throw err;
  }
}

function valueOf(v: number | boolean | string, compiler: Compiler): () => Val {
  if (typeof v !== "string") return () => v;
  return within("value", () => compiler.expression(v).fn);
}
