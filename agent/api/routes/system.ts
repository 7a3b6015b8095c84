import { renderMetrics } from "../metrics.js";
import { readHost } from "../host-metrics.js";
import { sendJson } from "../http.js";
import { route, type Route } from "../router.js";
import type { ApiContext } from "../context.js";

/** Health, status, metrics, the outbox and OTA: read-only views of the agent. */
export function systemRoutes(cx: ApiContext): Route[] {
  return [
    route("GET", "/health", ({ res }) => sendJson(res, 200, { status: "ok" })),
    route("GET", "/status", ({ res }) => sendJson(res, 200, cx.status())),
    route("GET", "/metrics", async ({ res }) => {
      const host = await readHost({ dataDir: cx.dataDir });
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      res.end(renderMetrics(cx.status(), host));
    }),
    route("GET", "/outbox", ({ res }) => {
      const s = cx.status();
      // The drain progress lives with the uplink; without one nothing drains.
      sendJson(res, 200, { ...s.outbox, store: s.store, drain: s.uplink?.drain ?? null, uplinkConnected: s.uplink?.connected ?? false });
    }),
    route("GET", "/ota", ({ res }) => {
      const ota = cx.status().ota;
      sendJson(res, 200, ota ?? { state: "disabled", note: "OTA is off: set ota.enabled, ota.trustRoot and run under edge-agent supervise" });
    }),
  ];
}
