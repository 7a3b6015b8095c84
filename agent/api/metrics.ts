import type { AgentStatus } from "../runtime/status.js";

/**
 * Prometheus text exposition (format 0.0.4) of the agent's status. Label values are escaped as the
 * format requires, so a device id can never break a scrape.
 */
export function renderMetrics(s: AgentStatus): string {
  const out: string[] = [];
  const family = (name: string, type: "gauge" | "counter", help: string, samples: Array<[Record<string, string>, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${formatLabels(labels)} ${value}`);
  };
  family("edge_agent_info", "gauge", "Agent version and device id.", [[{ version: s.version, device: s.deviceId }, 1]]);
  family("edge_agent_uptime_seconds", "gauge", "Seconds since the agent started.", [[{}, s.uptimeS]]);
  family("edge_outbox_pending", "gauge", "Records stored and not yet acknowledged by the broker.", [[{}, s.outbox.pending]]);
  family("edge_outbox_sent_total", "counter", "Records acknowledged by the broker since start.", [[{}, s.outbox.sent]]);
  family("edge_outbox_dropped_total", "counter", "Records dropped by a store bound since start.", [
    [{ reason: "rows" }, s.outbox.dropped.rows],
    [{ reason: "age" }, s.outbox.dropped.age],
    [{ reason: "bytes" }, s.outbox.dropped.bytes],
    [{ reason: "memory" }, s.store.droppedFromMemory],
  ]);
  family("edge_store_bytes", "gauge", "Bytes the database uses (outbox and history).", [[{}, s.outbox.bytes]]);
  family("edge_store_max_bytes", "gauge", "The database's byte bound (0 = none).", [[{}, s.outbox.maxBytes]]);
  family("edge_store_fault", "gauge", "1 while the disk refuses writes (full, read-only, failing).", [[{}, s.store.fault ? 1 : 0]]);
  family("edge_store_buffered", "gauge", "Records held in memory while the disk refuses writes.", [[{}, s.store.buffered]]);
  family("edge_history_bytes", "gauge", "Bytes of local history kept.", [[{}, s.outbox.history.bytes]]);
  family("edge_uplink_connected", "gauge", "1 when the MQTT uplink is connected.", [[{}, s.uplink?.connected ? 1 : 0]]);
  family("edge_uplink_drain_rate", "gauge", "Records acknowledged by the broker per second, over the last seconds.", [[{}, s.uplink?.drain.ratePerS ?? 0]]);
  family("edge_uplink_drain_eta_seconds", "gauge", "Seconds until the outbox is empty at the current drain rate (-1 = not draining).", [[{}, s.uplink ? (s.uplink.drain.etaS ?? -1) : -1]]);
  family("edge_uplink_backlog", "gauge", "1 while records from before the current connection are still being sent.", [[{}, s.uplink?.drain.backlog ? 1 : 0]]);
  family("edge_pipeline_samples_total", "counter", "Samples through the pipeline by outcome.", [
    [{ outcome: "received" }, s.pipeline.received],
    [{ outcome: "stored" }, s.pipeline.stored],
    [{ outcome: "filtered" }, s.pipeline.filtered],
    [{ outcome: "store_error" }, s.pipeline.storeErrors],
  ]);
  family("edge_rules_loaded", "gauge", "Rules loaded (config and API).", [[{}, s.rules.rules]]);
  family("edge_rules_evaluations_total", "counter", "Rule evaluations since start.", [[{}, s.rules.evaluations]]);
  family("edge_rules_action_errors_total", "counter", "Rule actions that failed or were skipped (write refused, value unknown).", [[{}, s.rules.actionErrors]]);
  family("edge_alarms_active", "gauge", "Alarms whose rule is active (acknowledged or not), by severity.", Object.entries(s.rules.alarmsActive).map(([severity, n]): [Record<string, string>, number] => [{ severity }, n]));
  family("edge_alarms_unacknowledged", "gauge", "Alarms waiting for an operator's acknowledgement (active or cleared).", [[{}, s.rules.alarmsUnacknowledged]]);
  family("edge_driver_connected", "gauge", "1 when the driver is connected to its device.", s.drivers.map((d) => [{ device: d.id, protocol: d.protocol }, d.connected ? 1 : 0]));
  family("edge_driver_requests_total", "counter", "Protocol requests sent.", s.drivers.map((d) => [{ device: d.id }, d.counters.requests]));
  family(
    "edge_driver_errors_total",
    "counter",
    "Failed requests or connection attempts, by kind (timeout, exception, crc, connection, other).",
    s.drivers.flatMap((d) => Object.entries(d.errorsByKind ?? { all: d.counters.errors }).map(([kind, n]): [Record<string, string>, number] => [{ device: d.id, kind }, n])),
  );
  family(
    "edge_driver_latency_ms",
    "gauge",
    "Request round trip over the last requests, by quantile.",
    s.drivers.flatMap((d) =>
      d.latencyMs
        ? ([["0.5", d.latencyMs.p50], ["0.95", d.latencyMs.p95], ["0.99", d.latencyMs.p99]] as const).map(([q, v]): [Record<string, string>, number] => [{ device: d.id, quantile: q }, v])
        : [],
    ),
  );
  family("edge_driver_overruns_total", "counter", "Poll cycles skipped because the previous one was still running.", s.drivers.map((d) => [{ device: d.id }, d.counters.overruns]));
  return out.join("\n") + "\n";
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
  return `{${entries.map(([k, v]) => `${k}="${esc(v)}"`).join(",")}}`;
}
