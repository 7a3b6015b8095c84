import { renderMetrics } from "../metrics.js";
import { sendJson } from "../http.js";
import { route, type Route } from "../router.js";
import type { ApiContext } from "../context.js";

/** Health, status, metrics, the outbox and OTA: read-only views of the agent. */
export function systemRoutes(cx: ApiContext): Route[] {
  return [
    route("GET", "/health", ({ res }) => sendJson(res, 200, { status: "ok" })),
    route("GET", "/status", ({ res }) => sendJson(res, 200, cx.status())),
    route("GET", "/metrics", ({ res }) => {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      res.end(renderMetrics(cx.status()));
    }),
    route("GET", "/outbox", ({ res }) => {
      const s = cx.status();
      // The drain progress lives with the uplink; without one nothing drains.
      sendJson(res, 200, { ...s.outbox, store: s.store, drain: s.uplink?.drain ?? null, uplinkConnected: s.uplink?.connected ?? false });
    }),
    // A placeholder with the final shape's first field: the OTA client is not wired into the runtime yet.
    route("GET", "/ota", ({ res }) => sendJson(res, 200, { state: "idle", wired: false, note: "OTA updates are not wired into the running agent yet" })),
  ];
}
