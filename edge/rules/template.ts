import type { Compiler } from "./compile.js";
import { ExpressionError } from "./lexer.js";
import type { Val } from "./values.js";

/**
 * Message templates: literal text with `{expression}` placeholders, compiled once with the rule's
 * compiler (same language, same point checks). `{{` and `}}` are literal braces.
 */
export type Template = () => string;

export function compileTemplate(text: string, cx: Compiler): Template {
  const parts: Array<string | (() => Val)> = [];
  let lit = "";
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === "{" && text.charAt(i + 1) === "{") {
      lit += "{";
      i += 2;
      continue;
    }
    if (c === "}" && text.charAt(i + 1) === "}") {
      lit += "}";
      i += 2;
      continue;
    }
    if (c === "}") throw new ExpressionError(i, 'unmatched "}" (write "}}" for a literal brace)');
    if (c !== "{") {
      lit += c;
      i++;
      continue;
    }
    const end = text.indexOf("}", i + 1);
    if (end < 0) throw new ExpressionError(i, 'unterminated "{" placeholder');
    if (lit) parts.push(lit);
    lit = "";
    try {
      parts.push(cx.expression(text.slice(i + 1, end)).fn);
    } catch (err) {
      // Report the column within the whole message, not within the placeholder.
      if (err instanceof ExpressionError) throw new ExpressionError(err.pos + i + 1, err.reason);
      throw err;
    }
    i = end + 1;
  }
  if (lit) parts.push(lit);
  return () => {
    let out = "";
    for (const p of parts) out += typeof p === "string" ? p : formatValue(p());
    return out;
  };
}

/** How a value shows in a message: numbers to at most 3 decimals, Unknown as "?". */
export function formatValue(v: Val): string {
  if (v === undefined) return "?";
  if (typeof v === "number") return String(Math.round(v * 1000) / 1000);
  return String(v);
}
