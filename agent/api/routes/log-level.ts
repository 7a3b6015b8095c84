import { LOG_LEVELS } from "../../log.js";
import { readBody, sendJson } from "../http.js";
import { route, type Route } from "../router.js";
import type { ApiContext } from "../context.js";

// The body/query schemas (zod, ~12 MB resident once loaded) are imported on the first request that needs them.
const schemas = () => import("./schemas.js");

/**
 * The process's log level, changed without a restart (turn on debug while chasing a fault, then back).
 * It lasts until the agent restarts; the config's log.level (or --log-level) applies again then.
 */
export function logLevelRoutes(cx: ApiContext): Route[] {
  return [
    route("GET", "/log-level", ({ res }) => sendJson(res, 200, { level: cx.logLevel.get(), levels: LOG_LEVELS })),
    route("PUT", "/log-level", async ({ req, res }) => {
      const { level } = await readBody(req, (await schemas()).levelBody, `{"level": ${LOG_LEVELS.map((l) => `"${l}"`).join(" | ")}}`);
      const previous = cx.logLevel.set(level);
      sendJson(res, 200, { level: cx.logLevel.get(), previous });
    }),
  ];
}
