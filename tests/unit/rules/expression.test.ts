import { describe, expect, it } from "vitest";
import { compileError, evaluate } from "./harness.js";
import { parse } from "../../../edge/rules/parser.js";

describe("expression language: values and operators", () => {
  it("follows arithmetic precedence and left associativity", () => {
    expect(evaluate("1 + 2 * 3")).toBe(7);
    expect(evaluate("(1 + 2) * 3")).toBe(9);
    expect(evaluate("10 - 4 - 3")).toBe(3);
    expect(evaluate("100 / 10 / 5")).toBe(2);
    expect(evaluate("2 * 7 % 4")).toBe(2);
    expect(evaluate("-2 * 3")).toBe(-6);
    expect(evaluate("- (2 + 3)")).toBe(-5);
    expect(evaluate("1.5e2 + .5")).toBe(150.5);
    expect(evaluate("+4")).toBe(4);
  });

  it("evaluates every comparison", () => {
    expect([evaluate("1 < 2"), evaluate("2 < 2"), evaluate("2 <= 2"), evaluate("3 <= 2")]).toEqual([true, false, true, false]);
    expect([evaluate("3 > 2"), evaluate("2 > 2"), evaluate("2 >= 2"), evaluate("1 >= 2")]).toEqual([true, false, true, false]);
    expect([evaluate("2 == 2"), evaluate("2 != 2"), evaluate("'a' == \"a\""), evaluate("'a' != 'b'")]).toEqual([true, false, true, true]);
    expect(evaluate("true == false")).toBe(false);
  });

  it("binds not looser than comparisons and and tighter than or, in both spellings", () => {
    expect(evaluate("not 1 > 2")).toBe(true);
    expect(evaluate("!1 > 2")).toBe(true);
    expect(evaluate("true or false and false")).toBe(true);
    expect(evaluate("true || false && false")).toBe(true);
    expect(evaluate("(true or false) and false")).toBe(false);
    expect(evaluate("not true or true")).toBe(true);
    expect(evaluate("1 + 1 == 2 and 2 * 2 == 4")).toBe(true);
  });

  it("reads points by bare name (with dots) and by point(\"...\") for ids with '-' or a leading digit", () => {
    const v = { "tank.level": 80, "line-1.temp": 21.5, "1st": 3, line: 10, "1.temp": 2 };
    expect(evaluate("tank.level + 1", v)).toBe(81);
    expect(evaluate('point("line-1.temp") * 2', v)).toBe(43);
    expect(evaluate("point('1st')", v)).toBe(3);
    // A bare `-` is always subtraction, so an id with '-' cannot be written bare: the error says how.
    expect(compileError("line-1.temp", ["line", "line-1.temp"])).toBe(
      'column 6: "1.t..." is not a number; a point id that starts with a digit is written point("...")',
    );
    expect(compileError("line-one", ["line-one"])).toBe('column 1: unknown point "line"');
    expect(evaluate("line - 1", v)).toBe(9);
  });

  it("computes every function", () => {
    expect(evaluate("abs(-3)")).toBe(3);
    expect(evaluate("floor(2.7)")).toBe(2);
    expect(evaluate("ceil(2.1)")).toBe(3);
    expect(evaluate("round(2.5)")).toBe(3);
    expect(evaluate("round(3.14159, 2)")).toBe(3.14);
    expect(evaluate("min(4, 2, 9)")).toBe(2);
    expect(evaluate("max(4, 2, 9)")).toBe(9);
    expect(evaluate("clamp(15, 0, 10)")).toBe(10);
    expect(evaluate("clamp(-1, 0, 10)")).toBe(0);
    expect(evaluate("clamp(5, 0, 10)")).toBe(5);
    expect(evaluate("if(1 > 0, 'yes', 'no')")).toBe("yes");
    expect(evaluate("if(1 < 0, 1, 2)")).toBe(2);
    expect(evaluate("known(a)", { a: 1 })).toBe(true);
    expect(evaluate("known(a)", { a: null })).toBe(false);
  });

  it("converts point values: booleans count 1/0, numbers are conditions when not zero, decimal strings are numbers", () => {
    const v = { coil: true, word: 0, big: "9007199254740993", mode: "auto" };
    expect(evaluate("coil + 1", v)).toBe(2);
    expect(evaluate("coil and not word", v)).toBe(true);
    expect(evaluate("big > 9007199254740000", v)).toBe(true);
    expect(evaluate('mode == "auto"', v)).toBe(true);
    expect(evaluate("coil == 1", v)).toBe(true);
    expect(evaluate("mode + 1", v)).toBeUndefined();
    expect(evaluate("mode and true", v)).toBeUndefined();
  });
});

describe("three-valued logic", () => {
  const v = { ok: 5, lost: null };
  it("propagates Unknown through arithmetic, comparisons and functions", () => {
    expect(evaluate("lost + 1", v)).toBeUndefined();
    expect(evaluate("lost > 1", v)).toBeUndefined();
    expect(evaluate("abs(lost)", v)).toBeUndefined();
    expect(evaluate("max(ok, lost)", v)).toBeUndefined();
    expect(evaluate("if(lost > 1, 1, 2)", v)).toBeUndefined();
    expect(evaluate("-lost", v)).toBeUndefined();
    expect(evaluate("not (lost > 1)", v)).toBeUndefined();
  });

  it("applies Kleene and/or: a decisive side wins over Unknown", () => {
    expect(evaluate("false and lost > 1", v)).toBe(false);
    expect(evaluate("lost > 1 and false", v)).toBe(false);
    expect(evaluate("true and lost > 1", v)).toBeUndefined();
    expect(evaluate("true or lost > 1", v)).toBe(true);
    expect(evaluate("lost > 1 or true", v)).toBe(true);
    expect(evaluate("false or lost > 1", v)).toBeUndefined();
  });

  it("makes division by zero and overflow Unknown rather than Infinity", () => {
    expect(evaluate("1 / 0")).toBeUndefined();
    expect(evaluate("5 % 0")).toBeUndefined();
    expect(evaluate("1e308 * 10")).toBeUndefined();
  });
});

describe("errors name the 1-based column and the reason", () => {
  it("reports unknown points, unknown functions and arity", () => {
    expect(compileError("a > 1 and tank.lvl > 2")).toBe('column 11: unknown point "tank.lvl"');
    expect(compileError("a + foo(1)")).toMatch(/^column 5: unknown function "foo"/);
    expect(compileError("clamp(a, 1)")).toBe("column 1: clamp() takes 3 argument(s), got 2");
    expect(compileError("abs()")).toBe("column 1: abs() takes 1 argument(s), got 0");
  });

  it("reports syntax errors where they are", () => {
    expect(compileError("a + ")).toBe("column 5: expected a value, found end of expression");
    expect(compileError("(a + b")).toBe('column 7: expected ")", found end of expression');
    expect(compileError("a b")).toBe('column 3: unexpected "b" after a complete expression');
    expect(compileError("a < b < 3")).toBe("column 7: comparisons cannot be chained (write a < b and b < c)");
    expect(compileError("'abc")).toBe("column 1: unterminated string");
    expect(compileError("a and")).toBe("column 6: expected a value, found end of expression");
  });

  it("refuses type mismatches it can see at compile time", () => {
    expect(compileError('a + "x"')).toBe("column 5: expected a number, found a string");
    expect(compileError("not 5")).toBe("column 5: expected a condition (true/false), found a number");
    expect(compileError('1 == "1"')).toBe("column 3: cannot compare a number with a string");
    expect(compileError('rate(a, "soon")')).toBe('column 9: "soon" is not a duration (use "500ms", "10s", "2m", "1h")');
    expect(compileError("rate(1, \"10s\")")).toBe("column 6: rate() needs a point as its first argument");
  });

  it("parses into the expected tree shape (precedence is structural, not accidental)", () => {
    const tree = parse("a + b * 2 > 3 or not c");
    expect(tree).toMatchObject({ t: "bin", op: "or", l: { t: "bin", op: ">", l: { op: "+", r: { op: "*" } } }, r: { t: "not" } });
  });
});
