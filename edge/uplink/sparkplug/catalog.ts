import type { Quality, SampleValue } from "../../model.js";
import type { RecordKind } from "../../store/outbox.js";
import { EdgeError } from "../../errors.js";
import { assignAliases } from "./aliases.js";
import { isSparkplugId } from "./config.js";
import { sparkplugTypeFor, type MetricHint, type SparkplugType } from "./values.js";

/** One point as a Sparkplug device metric. */
export interface SparkplugMetricSpec {
  /** Point id from the configuration (the outbox's `point`). */
  point: string;
  /** Metric name shown by hosts; may contain `/` for folders. */
  name: string;
  datatype: MetricHint;
  unit?: string | undefined;
}

/** A Sparkplug device = one of our drivers' devices, with the points it reports. */
export interface SparkplugDeviceSpec {
  deviceId: string;
  metrics: readonly SparkplugMetricSpec[];
}

export interface CatalogMetric {
  point: string;
  deviceId: string;
  name: string;
  alias: number;
  type: SparkplugType;
  unit: string | undefined;
}

/** The last value sent for a point, for the current value in a DBIRTH. */
export interface LastValue {
  value: SampleValue | null;
  quality: Quality;
  ts: number;
}

/** Node-level metric names. */
export const BD_SEQ = "bdSeq";
export const REBIRTH = "Node Control/Rebirth";
/** Events and alarms travel as NDATA String metrics holding the stored record's JSON. */
export const EVENT_METRICS: Readonly<Record<Exclude<RecordKind, "telemetry">, string>> = { event: "Events/event", alarm: "Events/alarm" };

/**
 * Every metric the edge node declares in its births, with aliases, plus the last value sent per point.
 * Built once from the device list; a bad list (duplicate point or metric name, a device id that is not
 * a valid topic level) is refused here, at start, with an error that names it.
 */
export class MetricCatalog {
  readonly devices: readonly { deviceId: string; metrics: readonly CatalogMetric[] }[];
  readonly rebirthAlias: number;
  readonly eventAliases: Readonly<Record<Exclude<RecordKind, "telemetry">, number>>;
  private readonly byPointId = new Map<string, CatalogMetric>();
  private readonly last = new Map<string, LastValue>();

  constructor(devices: readonly SparkplugDeviceSpec[]) {
    const aliases = assignAliases([
      `node:${REBIRTH}`,
      ...Object.values(EVENT_METRICS).map((n) => `node:${n}`),
      ...devices.flatMap((d) => d.metrics.map((m) => `point:${m.point}`)),
    ]);
    const alias = (key: string): number => aliases.get(key) as number;
    this.rebirthAlias = alias(`node:${REBIRTH}`);
    this.eventAliases = { event: alias(`node:${EVENT_METRICS.event}`), alarm: alias(`node:${EVENT_METRICS.alarm}`) };
    const seenDevices = new Set<string>();
    this.devices = devices.map((d) => {
      if (!isSparkplugId(d.deviceId)) throw new EdgeError("SPARKPLUG_DEVICE", `Sparkplug device id ${JSON.stringify(d.deviceId)} must be 1-128 characters without '+', '/' or '#'`);
      if (seenDevices.has(d.deviceId)) throw new EdgeError("SPARKPLUG_DEVICE", `Sparkplug device ${d.deviceId} is listed twice`);
      seenDevices.add(d.deviceId);
      const names = new Set<string>();
      const metrics = d.metrics.map((m): CatalogMetric => {
        if (this.byPointId.has(m.point)) throw new EdgeError("SPARKPLUG_DEVICE", `point ${m.point} is listed twice in the Sparkplug device list`);
        if (names.has(m.name)) throw new EdgeError("SPARKPLUG_DEVICE", `Sparkplug device ${d.deviceId} has two metrics named ${JSON.stringify(m.name)}`);
        names.add(m.name);
        const metric = { point: m.point, deviceId: d.deviceId, name: m.name, alias: alias(`point:${m.point}`), type: sparkplugTypeFor(m.datatype), unit: m.unit };
        this.byPointId.set(m.point, metric);
        return metric;
      });
      return { deviceId: d.deviceId, metrics };
    });
  }

  byPoint(point: string): CatalogMetric | undefined {
    return this.byPointId.get(point);
  }

  remember(point: string, value: LastValue): void {
    const prev = this.last.get(point);
    // A backlog can be sent after newer live values: the birth shows the newest reading, not the last sent.
    if (!prev || prev.ts <= value.ts) this.last.set(point, value);
  }

  lastValue(point: string): LastValue | undefined {
    return this.last.get(point);
  }
}
