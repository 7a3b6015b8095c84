/**
 * Tokenizer of the rule expression language. Positions are 0-based offsets internally and reported
 * 1-based (column) in errors, because that is what an engineer counts in a config line.
 *
 * Anything outside the language is refused here, at the first character: brackets, backticks
 * (template strings), `=` alone (assignment), `;`, `{`. The parser never sees them.
 */

export type TokenKind = "number" | "string" | "ident" | "op" | "(" | ")" | "," | "eof";

export interface Token {
  kind: TokenKind;
  /** The source text (for strings: the decoded value). */
  text: string;
  /** 0-based offset of the first character. */
  pos: number;
  /** Numeric value of a number token. */
  num?: number;
}

/** A problem at a position of the source text; the compiler prefixes the rule and field. */
export class ExpressionError extends Error {
  constructor(
    readonly pos: number,
    readonly reason: string,
  ) {
    super(`column ${pos + 1}: ${reason}`);
    this.name = "ExpressionError";
  }
}

/** Longest accepted expression: a rule is a line of logic, not a program. */
export const MAX_EXPRESSION_LENGTH = 2000;

// Two-character operators first, so `<=` is not read as `<` then `=`.
const OPERATORS2 = ["<=", ">=", "==", "!=", "&&", "||"];
const OPERATORS1 = ["+", "-", "*", "/", "%", "<", ">", "!"];

const isDigit = (c: string) => c >= "0" && c <= "9";
const isIdentStart = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
// Bare names may contain dots (`tank.level`) but not `-`: `a-b` must stay a subtraction.
const isIdentPart = (c: string) => isIdentStart(c) || isDigit(c) || c === ".";

export function tokenize(source: string): Token[] {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionError(MAX_EXPRESSION_LENGTH, `expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  }
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source.charAt(i);
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
      continue;
    }
    const start = i;
    if (isDigit(c) || (c === "." && isDigit(source.charAt(i + 1)))) {
      const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(i));
      const text = m?.[0] ?? c;
      i += text.length;
      if (isIdentStart(source.charAt(i))) {
        throw new ExpressionError(start, `"${text}${source.charAt(i)}..." is not a number; a point id that starts with a digit is written point("...")`);
      }
      tokens.push({ kind: "number", text, pos: start, num: Number(text) });
      continue;
    }
    if (isIdentStart(c)) {
      while (i < source.length && isIdentPart(source.charAt(i))) i++;
      const text = source.slice(start, i);
      if (text.endsWith(".")) throw new ExpressionError(i - 1, `a name cannot end with "."`);
      tokens.push({ kind: "ident", text, pos: start });
      continue;
    }
    if (c === '"' || c === "'") {
      i++;
      let value = "";
      for (;;) {
        if (i >= source.length) throw new ExpressionError(start, "unterminated string");
        const d = source.charAt(i);
        if (d === c) break;
        if (d === "\\") {
          const e = source.charAt(i + 1);
          if (e !== "\\" && e !== '"' && e !== "'") throw new ExpressionError(i, `unsupported escape "\\${e}" (only \\\\, \\" and \\' are allowed)`);
          value += e;
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      i++;
      tokens.push({ kind: "string", text: value, pos: start });
      continue;
    }
    const two = source.slice(i, i + 2);
    if (OPERATORS2.includes(two)) {
      tokens.push({ kind: "op", text: two, pos: start });
      i += 2;
      continue;
    }
    if (OPERATORS1.includes(c)) {
      tokens.push({ kind: "op", text: c, pos: start });
      i++;
      continue;
    }
    if (c === "(" || c === ")" || c === ",") {
      tokens.push({ kind: c, text: c, pos: start });
      i++;
      continue;
    }
    throw new ExpressionError(start, refusal(c));
  }
  tokens.push({ kind: "eof", text: "", pos: source.length });
  return tokens;
}

/** Why a character is not part of the language, in words that point to what to write instead. */
function refusal(c: string): string {
  switch (c) {
    case "=":
      return 'assignment is not allowed (compare with "==")';
    case "`":
      return 'template strings are not part of the language (quote a point id as point("..."))';
    case "[":
    case "]":
      return 'indexing is not part of the language (quote a point id as point("..."))';
    case "{":
    case "}":
      return "blocks are not part of the language";
    case ";":
      return "statements are not part of the language: a rule is one expression";
    case "&":
    case "|":
      return `unexpected "${c}" (use "and"/"&&" or "or"/"||")`;
    default:
      return `unexpected character ${JSON.stringify(c)}`;
  }
}
