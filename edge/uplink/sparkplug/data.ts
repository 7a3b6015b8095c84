import type { Quality, SampleValue } from "../../model.js";
import type { OutboxBatch, RecordKind } from "../../store/outbox.js";
import type { MetricCatalog } from "./catalog.js";
import type { SpMetric, SpPayload } from "./payload.js";
import { qualityProperties } from "./quality.js";
import { toMetricValue } from "./values.js";

/**
 * Where a host finds the outbox sequence numbers (delivery is at-least-once, so it needs them to drop
 * duplicates): every data metric has a `seq` property (UInt64) with its record's outbox seq, and the
 * payload's `body` holds UTF-8 JSON `{"epoch": "...", "seqs": {"first": a, "last": b} | [s, ...]}`
 * (a range only when contiguous), with `uuid` naming that body format.
 */
export const OUTBOX_BODY_UUID = "edge-agent/outbox-seqs/v1";

/** One NDATA (deviceId null) or DDATA message to publish, before its Sparkplug seq is known. */
export interface DataMessage {
  deviceId: string | null;
  metrics: SpMetric[];
  seqs: number[];
}

export interface RowsAsMessages {
  messages: DataMessage[];
  /** Samples of points missing from the device list: no birth declared them, so they cannot be sent. */
  unmapped: number;
  /** Records that are not what the outbox promises (unparsable JSON): logged by the caller and dropped. */
  malformed: number;
}

interface StoredSample {
  seq: number;
  point: string;
  ts: number;
  value: SampleValue | null;
  quality: Quality;
  reason?: string;
}

function isStoredSample(r: unknown): r is StoredSample {
  if (typeof r !== "object" || r === null) return false;
  const s = r as Record<string, unknown>;
  return typeof s.seq === "number" && typeof s.point === "string" && typeof s.ts === "number" && (s.quality === "good" || s.quality === "bad" || s.quality === "uncertain");
}

/**
 * Turns outbox rows into Sparkplug data messages: telemetry samples go to their device's DDATA by
 * alias only, events and alarms to NDATA as `Events/<kind>` String metrics holding the record's JSON.
 * A record read before `liveSince` (the current connection's start) was stored while offline and is
 * flagged is_historical, so a host files it without overwriting the live value.
 */
export function dataMessages(rows: readonly OutboxBatch[], catalog: MetricCatalog, liveSince: number): RowsAsMessages {
  const byDevice = new Map<string | null, DataMessage>();
  const target = (deviceId: string | null): DataMessage => {
    let m = byDevice.get(deviceId);
    if (!m) byDevice.set(deviceId, (m = { deviceId, metrics: [], seqs: [] }));
    return m;
  };
  let unmapped = 0;
  let malformed = 0;
  for (const row of rows) {
    let records: unknown;
    try {
      records = JSON.parse(row.body);
    } catch {
      malformed += row.count;
      continue;
    }
    if (!Array.isArray(records)) {
      malformed += row.count;
      continue;
    }
    for (const rec of records as unknown[]) {
      if (row.kind === "telemetry") {
        if (!isStoredSample(rec)) {
          malformed++;
          continue;
        }
        const metric = catalog.byPoint(rec.point);
        if (!metric) {
          unmapped++;
          continue;
        }
        const converted = toMetricValue(metric.type, rec.value);
        const properties = {
          seq: { type: "UInt64", value: rec.seq } as const,
          ...(converted.ok ? qualityProperties(rec.quality, rec.reason) : qualityProperties("bad", converted.reason)),
        };
        const m: SpMetric = { alias: metric.alias, value: converted.ok ? converted.value : null, timestamp: rec.ts, properties };
        if (rec.ts < liveSince) m.historical = true;
        catalog.remember(rec.point, { value: rec.value, quality: rec.quality, ts: rec.ts });
        const msg = target(metric.deviceId);
        msg.metrics.push(m);
        msg.seqs.push(rec.seq);
      } else {
        const seq = typeof rec === "object" && rec !== null ? (rec as { seq?: unknown }).seq : undefined;
        if (typeof seq !== "number") {
          malformed++;
          continue;
        }
        const tsField = (rec as { ts?: unknown }).ts;
        const ts = typeof tsField === "number" ? tsField : undefined;
        const m: SpMetric = {
          alias: catalog.eventAliases[row.kind as Exclude<RecordKind, "telemetry">],
          value: { kind: "string", value: JSON.stringify(rec) },
          properties: { seq: { type: "UInt64", value: seq } },
        };
        if (ts !== undefined) m.timestamp = ts;
        if (ts !== undefined && ts < liveSince) m.historical = true;
        const msg = target(null);
        msg.metrics.push(m);
        msg.seqs.push(seq);
      }
    }
  }
  return { messages: [...byDevice.values()], unmapped, malformed };
}

/** The payload of a data message, with the outbox seqs in `body` (see OUTBOX_BODY_UUID). */
export function dataPayload(msg: DataMessage, epoch: string, seq: number, now: number): SpPayload {
  const body = JSON.stringify({ epoch, seqs: describeSeqList(msg.seqs) });
  return { timestamp: now, seq, metrics: msg.metrics, uuid: OUTBOX_BODY_UUID, body: Buffer.from(body, "utf8") };
}

/** `{first, last}` when the seqs are contiguous and ascending, else the list itself. */
export function describeSeqList(seqs: readonly number[]): { first: number; last: number } | number[] {
  for (let i = 1; i < seqs.length; i++) if (seqs[i] !== (seqs[i - 1] as number) + 1) return [...seqs];
  return { first: seqs[0] ?? 0, last: seqs[seqs.length - 1] ?? 0 };
}
