import { ExpressionError, tokenize, type Token } from "./lexer.js";

/**
 * Pratt parser of the rule expression language into a small syntax tree. The tree is compiled once
 * (compile.ts) into closures; nothing here ever evaluates user text.
 *
 * Binding power, loosest first: `or ||` < `and &&` < `not !` < comparisons (not chainable)
 * < `+ -` < `* / %` < unary `-`.
 */

export type BinaryOp = "+" | "-" | "*" | "/" | "%" | "<" | "<=" | ">" | ">=" | "==" | "!=" | "and" | "or";

export type Node =
  | { t: "num"; v: number; pos: number }
  | { t: "str"; v: string; pos: number }
  | { t: "bool"; v: boolean; pos: number }
  | { t: "point"; id: string; pos: number }
  | { t: "call"; name: string; args: Node[]; pos: number }
  | { t: "neg"; arg: Node; pos: number }
  | { t: "not"; arg: Node; pos: number }
  | { t: "bin"; op: BinaryOp; l: Node; r: Node; pos: number };

/** Deepest nesting of sub-expressions; deeper input is refused before it can exhaust the stack. */
export const MAX_DEPTH = 32;

const BP = { or: 1, and: 2, not: 3, cmp: 4, add: 5, mul: 6, neg: 7 } as const;

function infix(tok: Token): { op: BinaryOp; bp: number } | null {
  if (tok.kind === "ident") {
    if (tok.text === "or") return { op: "or", bp: BP.or };
    if (tok.text === "and") return { op: "and", bp: BP.and };
    return null;
  }
  if (tok.kind !== "op") return null;
  switch (tok.text) {
    case "||":
      return { op: "or", bp: BP.or };
    case "&&":
      return { op: "and", bp: BP.and };
    case "<":
    case "<=":
    case ">":
    case ">=":
    case "==":
    case "!=":
      return { op: tok.text, bp: BP.cmp };
    case "+":
    case "-":
      return { op: tok.text, bp: BP.add };
    case "*":
    case "/":
    case "%":
      return { op: tok.text, bp: BP.mul };
    default:
      return null;
  }
}

const KEYWORDS = new Set(["and", "or", "not", "true", "false"]);

/** The operands of a chain `a op b op c` (left or right nested), in order: evaluated as one n-ary step. */
export function flattenChain(n: Node, op: string): Node[] {
  const operands: Node[] = [];
  const walk = (x: Node) => {
    if (x.t === "bin" && x.op === op) {
      walk(x.l);
      walk(x.r);
    } else operands.push(x);
  };
  walk(n);
  return operands;
}

export function parse(source: string): Node {
  const tokens = tokenize(source);
  let i = 0;
  let depth = 0;
  const peek = (): Token => tokens[i] ?? (tokens[tokens.length - 1] as Token);
  const next = (): Token => tokens[i++] ?? (tokens[tokens.length - 1] as Token);
  const describe = (tok: Token) => (tok.kind === "eof" ? "end of expression" : tok.kind === "string" ? "a string" : `"${tok.text}"`);
  const expect = (kind: Token["kind"], what: string): Token => {
    const tok = next();
    if (tok.kind !== kind) throw new ExpressionError(tok.pos, `expected ${what}, found ${describe(tok)}`);
    return tok;
  };

  function expression(minBp: number): Node {
    if (++depth > MAX_DEPTH) throw new ExpressionError(peek().pos, `expression is nested deeper than ${MAX_DEPTH} levels`);
    let left = prefix();
    for (;;) {
      const tok = peek();
      const inf = infix(tok);
      if (!inf || inf.bp <= minBp) break;
      next();
      const right = expression(inf.bp);
      if (inf.bp === BP.cmp && infix(peek())?.bp === BP.cmp) {
        throw new ExpressionError(peek().pos, "comparisons cannot be chained (write a < b and b < c)");
      }
      left = { t: "bin", op: inf.op, l: left, r: right, pos: tok.pos };
    }
    depth--;
    return left;
  }

  function prefix(): Node {
    const tok = next();
    switch (tok.kind) {
      case "number":
        return { t: "num", v: tok.num ?? Number.NaN, pos: tok.pos };
      case "string":
        return { t: "str", v: tok.text, pos: tok.pos };
      case "(": {
        const inner = expression(0);
        expect(")", '")"');
        return inner;
      }
      case "op":
        if (tok.text === "-") return { t: "neg", arg: expression(BP.neg - 1), pos: tok.pos };
        if (tok.text === "!") return { t: "not", arg: expression(BP.not - 1), pos: tok.pos };
        if (tok.text === "+") return expression(BP.neg - 1);
        throw new ExpressionError(tok.pos, `expected a value, found "${tok.text}"`);
      case "ident":
        return identifier(tok);
      default:
        throw new ExpressionError(tok.pos, `expected a value, found ${describe(tok)}`);
    }
  }

  function identifier(tok: Token): Node {
    if (tok.text === "true" || tok.text === "false") return { t: "bool", v: tok.text === "true", pos: tok.pos };
    if (tok.text === "not") return { t: "not", arg: expression(BP.not - 1), pos: tok.pos };
    if (KEYWORDS.has(tok.text)) throw new ExpressionError(tok.pos, `expected a value, found "${tok.text}"`);
    if (peek().kind !== "(") return { t: "point", id: tok.text, pos: tok.pos };
    next();
    if (tok.text === "point") {
      const id = expect("string", 'a quoted point id, as in point("line-1.temp")');
      expect(")", '")" after the point id');
      return { t: "point", id: id.text, pos: id.pos };
    }
    const args: Node[] = [];
    if (peek().kind !== ")") {
      for (;;) {
        args.push(expression(0));
        if (peek().kind === ",") {
          next();
          continue;
        }
        break;
      }
    }
    expect(")", '"," or ")"');
    return { t: "call", name: tok.text, args, pos: tok.pos };
  }

  const tree = expression(0);
  const rest = peek();
  if (rest.kind !== "eof") throw new ExpressionError(rest.pos, `unexpected ${describe(rest)} after a complete expression`);
  return tree;
}
