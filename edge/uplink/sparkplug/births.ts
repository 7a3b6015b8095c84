import { BD_SEQ, EVENT_METRICS, REBIRTH, type CatalogMetric, type MetricCatalog } from "./catalog.js";
import type { SpMetric, SpPayload, SpProperty } from "./payload.js";
import { qualityProperties } from "./quality.js";
import { longBits, toMetricValue } from "./values.js";

/** The bdSeq metric: Int64, by name (NDEATH is fixed at CONNECT time, before any alias could matter). */
function bdSeqMetric(bdSeq: number, now: number): SpMetric {
  return { name: BD_SEQ, type: "Int64", value: { kind: "long", value: longBits(BigInt(bdSeq), false) }, timestamp: now };
}

/** NDEATH, our MQTT will: the bdSeq of the session it ends, no seq (the spec leaves it out). */
export function nodeDeath(bdSeq: number, now: number): SpPayload {
  return { timestamp: now, metrics: [bdSeqMetric(bdSeq, now)] };
}

/** NBIRTH: seq 0, the session's bdSeq, the rebirth control and the node-level event metrics. */
export function nodeBirth(catalog: MetricCatalog, bdSeq: number, now: number): SpPayload {
  const metrics: SpMetric[] = [
    bdSeqMetric(bdSeq, now),
    { name: REBIRTH, alias: catalog.rebirthAlias, type: "Boolean", value: { kind: "boolean", value: false }, timestamp: now },
  ];
  for (const kind of ["event", "alarm"] as const) {
    metrics.push({ name: EVENT_METRICS[kind], alias: catalog.eventAliases[kind], type: "String", value: null, timestamp: now });
  }
  return { timestamp: now, seq: 0, metrics };
}

/** DBIRTH: every metric of the device with name, alias, datatype and its last value sent (null when none yet). */
export function deviceBirth(catalog: MetricCatalog, metrics: readonly CatalogMetric[], now: number, seq: number): SpPayload {
  return { timestamp: now, seq, metrics: metrics.map((m) => birthMetric(catalog, m, now)) };
}

function birthMetric(catalog: MetricCatalog, m: CatalogMetric, now: number): SpMetric {
  const properties: Record<string, SpProperty> = {};
  if (m.unit !== undefined) properties.engUnit = { type: "String", value: m.unit };
  const last = catalog.lastValue(m.point);
  if (!last) return { name: m.name, alias: m.alias, type: m.type, value: null, timestamp: now, properties };
  const converted = toMetricValue(m.type, last.value);
  const value = converted.ok ? converted.value : null;
  Object.assign(properties, qualityProperties(converted.ok ? last.quality : "bad", converted.ok ? undefined : converted.reason));
  return { name: m.name, alias: m.alias, type: m.type, value, timestamp: last.ts, properties };
}
