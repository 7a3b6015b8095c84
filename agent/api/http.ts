import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";
import { EdgeError } from "../../edge/errors.js";
// engine-core.js, not index.js: the index brings the rule schemas and zod (~12 MB resident).
import { RuleSetError } from "../../edge/rules/engine-core.js";

/** An error with the HTTP status and a stable code that API clients can act on. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Every problem, for refusals that have several (an invalid rule set). */
    readonly problems?: readonly string[],
  ) {
    super(message);
  }

  /** The JSON body: `{error: {code, message, problems?}}`. */
  body(): { error: { code: string; message: string; problems?: readonly string[] } } {
    return { error: { code: this.code, message: this.message, ...(this.problems ? { problems: this.problems } : {}) } };
  }
}

/** How the data plane's error codes read over HTTP. */
const statusByCode: Record<string, number> = {
  POINT_UNKNOWN: 404,
  POINT_READ_ONLY: 403,
  WRITE_RANGE: 400,
  WRITE_TYPE: 400,
  DEVICE_OFFLINE: 503,
  WRITE_FAILED: 502,
  RULE_UNKNOWN: 404,
  RULE_EXISTS: 409,
  RULE_FROM_CONFIG: 409,
  RULE_ID_MISMATCH: 400,
  RELOAD_UNAVAILABLE: 409,
  ALARM_UNKNOWN: 404,
  ALARM_STATE: 409,
};

export function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof RuleSetError) return new ApiError(400, "rules_invalid", err.message, err.problems);
  if (err instanceof EdgeError && statusByCode[err.code]) return new ApiError(statusByCode[err.code] ?? 500, err.code.toLowerCase(), err.message);
  return null;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + "\n";
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Reads a JSON request body of at most `limit` bytes; a bigger or malformed body is a 4xx, never a crash. */
export async function readJson(req: IncomingMessage, limit = 64 * 1024): Promise<unknown> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) throw new ApiError(415, "unsupported_media_type", "send the body as application/json");
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw new ApiError(413, "body_too_large", `the body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ApiError(413, "body_too_large", `the body is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch (err) {
    throw new ApiError(400, "invalid_json", `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads and validates a JSON body; a mismatch is a 400 naming every field and what is wrong. */
export async function readBody<T extends z.ZodType>(req: IncomingMessage, schema: T, expected: string): Promise<z.output<T>> {
  const parsed = schema.safeParse(await readJson(req));
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "body"}: ${i.message}`);
  throw new ApiError(400, "invalid_body", `expected ${expected}: ${problems.join("; ")}`, problems);
}
