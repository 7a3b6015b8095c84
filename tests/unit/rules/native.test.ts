import { describe, expect, it } from "vitest";
import type { SampleValue } from "../../../edge/model.js";
import { Compiler, toBool } from "../../../edge/rules/compile.js";
import { compileNative, evalNative } from "../../../edge/rules/native.js";
import { parse } from "../../../edge/rules/parser.js";
import { ValueTable } from "../../../edge/rules/values.js";
import { bad, good, T0 } from "./harness.js";

/**
 * The engine runs conditions as instruction arrays (native.ts); the closures (compile.ts) remain the
 * reference semantics, used for values and messages. Both must agree on every condition, for every
 * kind of input: numbers, booleans, decimal and other text, bad quality, and stale values.
 */

const CONDITIONS = [
  "a > 5",
  "a <= 5",
  "a - b > 5 and c > 0",
  "abs(a - b) > 10 and not c < 1",
  "a or b",
  "a and b",
  "not a",
  "a == b",
  "a != 3",
  "(a > 1) == (b > 1)",
  "a == true",
  "a == \"abc\"",
  "round(a) == 42",
  "round(a / 3, 2) < 1.5",
  "a / b > 1",
  "a % b == 0 or b * 2 > 9000",
  "-a < -1",
  "min(a, b, c) > 1 or max(a, b) < 0",
  "clamp(a * 2, 0, 150) > 140",
  "if(a > 50, b, c) > 90",
  "if(a, b > 1, 5)",
  "if(a, b, \"x\")",
  "if(a, \"42\", c) > 41",
  "known(a) and not known(b)",
  "known(a + b)",
  "known(if(a, b, \"x\"))",
  "known(\"x\")",
  "a > 1 or b > 1 or c > 1",
  "a > 1 and (b > 1 or c > 1) and not (a == c)",
  "delta(a) > 0",
  "floor(a) + ceil(b) > 3",
  "1 / 0 > 1 or a",
];

const INPUTS: Array<SampleValue | null> = [null, 0, 1, 3, 42, -7.5, 1e308, true, false, "42", "abc", ""];

function both(expr: string, values: Record<string, SampleValue | null>, staleAfter: number, age: number): [boolean | undefined, boolean | undefined] {
  const table = new ValueTable(["a", "b", "c"]);
  for (const [id, v] of Object.entries(values)) {
    const slot = table.slots.get(id) as number;
    // Two samples, so delta() has a previous value.
    table.set(slot, good(id, 1, T0 - age - 1000));
    table.set(slot, v === null ? bad(id, T0 - age) : good(id, v, T0 - age));
  }
  table.now = T0;
  const cx = new Compiler({ table, histories: [], historyCap: 64, staleAfter });
  const tree = parse(expr);
  const closure = cx.node(tree);
  const f = closure.fn;
  const reference = closure.type === "bool" ? (f() as boolean | undefined) : toBool(f());
  const n = evalNative(compileNative(tree, "bool", cx));
  return [reference, n === 1 ? true : n === 0 ? false : n !== n ? undefined : (`not a condition: ${n}` as unknown as boolean)];
}

describe("compiled conditions agree with the closures", () => {
  it.each(CONDITIONS)("%s", (expr) => {
    let seed = 7;
    const pick = () => INPUTS[(seed = (seed * 1103515245 + 12345) & 0x7fffffff) % INPUTS.length] as SampleValue | null;
    for (let i = 0; i < 300; i++) {
      const values = { a: pick(), b: pick(), c: pick() };
      const staleAfter = i % 3 === 0 ? 5000 : 0;
      const age = i % 2 === 0 ? 10_000 : 0;
      const [reference, native] = both(expr, values, staleAfter, age);
      expect(native, `${expr} with ${JSON.stringify(values)} staleAfter ${staleAfter} age ${age}`).toBe(reference);
    }
  });
});
