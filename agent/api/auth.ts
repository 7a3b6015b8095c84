import { randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { IncomingMessage } from "node:http";
import { ApiError } from "./http.js";

/**
 * The bearer token that every state-changing API request needs: created on first start in
 * {dataDir}/api-token with mode 0600, so only the agent's user (and root) can read it.
 */
export function loadOrCreateApiToken(dataDir: string): { token: string; file: string } {
  const file = join(dataDir, "api-token");
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, randomBytes(32).toString("hex") + "\n", { mode: 0o600 });
    renameSync(tmp, file);
  }
  return { token: readFileSync(file, "utf8").trim(), file };
}

/** Throws 401 unless the request carries `Authorization: Bearer <token>` (compared in constant time). */
export function requireToken(req: IncomingMessage, token: string): void {
  const header = req.headers.authorization ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  const given = Buffer.from(m?.[1] ?? "");
  const want = Buffer.from(token);
  if (!m || given.length !== want.length || !timingSafeEqual(given, want)) {
    throw new ApiError(401, "unauthorized", "this request changes state: send Authorization: Bearer <token> (the token is in the agent's data folder, file api-token)");
  }
}
