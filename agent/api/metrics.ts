import type { AgentStatus } from "../runtime/status.js";
import { PromText, type MetricSample } from "./prom-text.js";
import { writeHostMetrics, type HostReadings } from "./host-metrics.js";

/**
 * Prometheus text exposition (format 0.0.4) of the agent's status, then of the process and host
 * (`host` null leaves those out: the caller could not read them). Grouped the way an operator reads
 * them: the agent, the store and outbox, the uplink, the pipeline, rules and alarms, drivers, OTA.
 */
export function renderMetrics(s: AgentStatus, host: HostReadings | null = null): string {
  const out = new PromText();
  out.family("edge_agent_info", "gauge", "Agent version and device id.", [[{ version: s.version, device: s.deviceId }, 1]]);
  out.one("edge_agent_uptime_seconds", "gauge", "Seconds since the agent started.", s.uptimeS);
  writeStore(out, s);
  writeUplink(out, s);
  out.family("edge_pipeline_samples_total", "counter", "Samples through the pipeline by outcome.", [
    [{ outcome: "received" }, s.pipeline.received],
    [{ outcome: "stored" }, s.pipeline.stored],
    [{ outcome: "filtered" }, s.pipeline.filtered],
    [{ outcome: "store_error" }, s.pipeline.storeErrors],
  ]);
  writeRules(out, s);
  writeDrivers(out, s);
  writeOta(out, s);
  if (s.commands) {
    out.family("edge_commands_total", "counter", "Fleet commands received, and how they ended.", [
      [{ outcome: "received" }, s.commands.received],
      [{ outcome: "ok" }, s.commands.ok],
      [{ outcome: "failed" }, s.commands.failed],
    ]);
  }
  if (host) writeHostMetrics(out, host);
  return out.toString();
}

function writeStore(out: PromText, s: AgentStatus): void {
  out.one("edge_outbox_pending", "gauge", "Records stored and not yet acknowledged by the broker.", s.outbox.pending);
  out.one("edge_outbox_sent_total", "counter", "Records acknowledged by the broker since start.", s.outbox.sent);
  out.family("edge_outbox_dropped_total", "counter", "Records dropped by a store bound since start.", [
    [{ reason: "rows" }, s.outbox.dropped.rows],
    [{ reason: "age" }, s.outbox.dropped.age],
    [{ reason: "bytes" }, s.outbox.dropped.bytes],
    [{ reason: "memory" }, s.store.droppedFromMemory],
  ]);
  out.one("edge_store_bytes", "gauge", "Bytes the database uses (outbox and history).", s.outbox.bytes);
  out.one("edge_store_max_bytes", "gauge", "The database's byte bound (0 = none).", s.outbox.maxBytes);
  out.one("edge_store_fault", "gauge", "1 while the disk refuses writes (full, read-only, failing).", s.store.fault ? 1 : 0);
  out.one("edge_store_buffered", "gauge", "Records held in memory while the disk refuses writes.", s.store.buffered);
  out.one("edge_history_bytes", "gauge", "Bytes of local history kept.", s.outbox.history.bytes);
}

function writeUplink(out: PromText, s: AgentStatus): void {
  const u = s.uplink;
  out.one("edge_uplink_connected", "gauge", "1 when the MQTT uplink is connected.", u?.connected ? 1 : 0);
  out.one("edge_uplink_batches_sent_total", "counter", "Batches acknowledged by the broker since start.", u?.batchesSent ?? 0);
  out.one("edge_uplink_inflight_batches", "gauge", "Batches published and waiting for the broker's acknowledgement.", u?.inflightBatches ?? 0);
  out.one("edge_uplink_drain_rate", "gauge", "Records acknowledged by the broker per second, over the last seconds.", u?.drain.ratePerS ?? 0);
  out.one("edge_uplink_drain_eta_seconds", "gauge", "Seconds until the outbox is empty at the current drain rate (-1 = not draining).", u ? (u.drain.etaS ?? -1) : -1);
  out.one("edge_uplink_backlog", "gauge", "1 while records from before the current connection are still being sent.", u?.drain.backlog ? 1 : 0);
}

function writeRules(out: PromText, s: AgentStatus): void {
  out.one("edge_rules_loaded", "gauge", "Rules loaded (config and API).", s.rules.rules);
  out.one("edge_rules_evaluations_total", "counter", "Rule evaluations since start.", s.rules.evaluations);
  out.one("edge_rules_action_errors_total", "counter", "Rule actions that failed or were skipped (write refused, value unknown).", s.rules.actionErrors);
  out.family("edge_alarms_active", "gauge", "Alarms whose rule is active (acknowledged or not), by severity.", Object.entries(s.rules.alarmsActive).map(([severity, n]): MetricSample => [{ severity }, n]));
  out.one("edge_alarms_unacknowledged", "gauge", "Alarms waiting for an operator's acknowledgement (active or cleared).", s.rules.alarmsUnacknowledged);
}

function writeDrivers(out: PromText, s: AgentStatus): void {
  const d = s.drivers;
  out.family("edge_driver_connected", "gauge", "1 when the driver is connected to its device.", d.map((x) => [{ device: x.id, protocol: x.protocol }, x.connected ? 1 : 0]));
  out.family("edge_driver_requests_total", "counter", "Protocol requests sent.", d.map((x) => [{ device: x.id }, x.counters.requests]));
  out.family(
    "edge_driver_errors_total",
    "counter",
    "Failed requests or connection attempts, by kind (timeout, exception, crc, connection, other).",
    d.flatMap((x) => Object.entries(x.errorsByKind ?? { all: x.counters.errors }).map(([kind, n]): MetricSample => [{ device: x.id, kind }, n])),
  );
  out.family(
    "edge_driver_latency_ms",
    "gauge",
    "Request round trip over the last requests, by quantile.",
    d.flatMap((x) =>
      x.latencyMs ? ([["0.5", x.latencyMs.p50], ["0.95", x.latencyMs.p95], ["0.99", x.latencyMs.p99]] as const).map(([q, v]): MetricSample => [{ device: x.id, quantile: q }, v]) : [],
    ),
  );
  out.family("edge_driver_overruns_total", "counter", "Poll cycles skipped: the previous one was still running, or the event loop was too busy to poll on time.", d.map((x) => [{ device: x.id }, x.counters.overruns]));
}

/**
 * One sample naming the current state (value 1), "disabled" when OTA is off. Listing every state with
 * 0 would mean loading the OTA module (and its crypto) into agents that never update.
 */
function writeOta(out: PromText, s: AgentStatus): void {
  const ota = s.ota;
  out.family("edge_ota_state", "gauge", "The OTA client's update state (the sample with value 1 names it; disabled = OTA off).", [[{ state: ota?.state ?? "disabled" }, 1]]);
  if (!ota) return;
  out.family("edge_ota_download_bytes", "gauge", "Bytes of the release downloaded so far, and its size, while downloading.", ota.progress ? [[{ of: "done" }, ota.progress.bytes], [{ of: "total" }, ota.progress.total]] : []);
  out.one("edge_ota_pending_reports", "gauge", "OTA status reports waiting to be sent to the fleet server.", ota.pendingReports);
}
