import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { compileError, evaluate } from "./harness.js";
import { MAX_EXPRESSION_LENGTH } from "../../../edge/rules/lexer.js";
import { MAX_DEPTH } from "../../../edge/rules/parser.js";

describe("nothing reaches outside the language", () => {
  const cases: Array<[string, string]> = [
    ["constructor", 'column 1: unknown point "constructor"'],
    ["__proto__", 'column 1: unknown point "__proto__"'],
    ["a.constructor", 'column 1: unknown point "a.constructor"'],
    ["this", 'column 1: unknown point "this"'],
    ["globalThis", 'column 1: unknown point "globalThis"'],
    ["process.exit()", 'column 1: unknown function "process.exit"'],
    ["process.exit(1)", 'column 1: unknown function "process.exit"'],
    ['eval("1")', 'column 1: unknown function "eval"'],
    ["toString()", 'column 1: unknown function "toString"'],
    ["hasOwnProperty(a)", 'column 1: unknown function "hasOwnProperty"'],
    ["__proto__()", 'column 1: unknown function "__proto__"'],
    ['constructor.constructor("return process")()', 'column 42: unexpected "(" after a complete expression'],
    ['constructor.constructor("return process")', 'column 1: unknown function "constructor.constructor"'],
    ['new Function("x")', 'column 5: unexpected "Function" after a complete expression'],
    ['a["constructor"]', "column 2: indexing is not part of the language"],
    ["a = 1", 'column 3: assignment is not allowed (compare with "==")'],
    ["a += 1", 'column 4: assignment is not allowed (compare with "==")'],
    ["`${process.exit()}`", "column 1: template strings are not part of the language"],
    ["a; b", "column 2: statements are not part of the language"],
    ["() => 1", "column 4: assignment is not allowed"],
    ["(a)(1)", 'column 4: unexpected "(" after a complete expression'],
    ["{}", "column 1: blocks are not part of the language"],
    ["a & b", 'column 3: unexpected "&"'],
    ['"\\x41"', "column 2: unsupported escape"],
  ];
  for (const [source, message] of cases) {
    it(`refuses ${source}`, () => {
      expect(compileError(source)).toContain(message);
    });
  }

  it("refuses input longer than the limit and nesting deeper than the limit", () => {
    const long = "1" + " + 1".repeat(MAX_EXPRESSION_LENGTH / 4);
    expect(compileError(long)).toBe(`column ${MAX_EXPRESSION_LENGTH + 1}: expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
    const deep = "(".repeat(MAX_DEPTH + 5) + "1" + ")".repeat(MAX_DEPTH + 5);
    expect(compileError(deep)).toContain(`expression is nested deeper than ${MAX_DEPTH} levels`);
    expect(compileError("-".repeat(MAX_DEPTH + 5) + "1")).toContain("nested deeper");
    expect(compileError("not ".repeat(MAX_DEPTH + 5) + "true")).toContain("nested deeper");
    // Right at the limits it still works.
    const ok = "(".repeat(MAX_DEPTH - 1) + "1" + ")".repeat(MAX_DEPTH - 1);
    expect(evaluate(ok)).toBe(1);
  });

  it("a long flat expression within the limit compiles and evaluates", () => {
    const n = Math.floor((MAX_EXPRESSION_LENGTH - 1) / 4);
    expect(evaluate("1" + " + 1".repeat(n))).toBe(n + 1);
  });

  it("the rules code never builds code from text (no eval, no Function constructor, no dynamic property access on user input)", () => {
    const dir = join(import.meta.dirname, "../../../edge/rules");
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts"))) {
      const text = readFileSync(join(dir, file), "utf8");
      expect(text, file).not.toMatch(/\beval\s*\(|new\s+Function\b|\bFunction\s*\(|\bimport\s*\(|\brequire\s*\(/);
    }
  });

  it("a point named like an Object.prototype member is just a point", () => {
    expect(evaluate("constructor + __proto__", JSON.parse('{"constructor": 1, "__proto__": 2}') as Record<string, number>)).toBe(3);
  });
});
