import type { Sample } from "../model.js";
import type { Logger } from "../logger.js";
import type { Outbox } from "../store/outbox.js";
import { errorMessage } from "../errors.js";
import { toEngineering } from "./scaling.js";
import type { PointBaseConfig } from "../drivers/point-schema.js";

export type PipelinePoint = Pick<PointBaseConfig, "id" | "scale" | "offset" | "deadband">;

export interface PipelineOptions {
  points: readonly PipelinePoint[];
  outbox: Outbox;
  logger: Logger;
  /** Called after samples were committed, so the uplink can send them. */
  onStored?: () => void;
}

export interface PipelineCounters {
  received: number;
  stored: number;
  /** Dropped by a deadband (report by exception). */
  filtered: number;
  /** Samples for a point that is not configured (a driver bug; never stored). */
  unknown: number;
  /** Samples lost because the store refused the write (disk full, I/O error). */
  storeErrors: number;
}

/**
 * The one path every reading takes from a driver to the outbox: scale to engineering units, filter by
 * deadband, then commit the whole batch in one transaction. Also keeps the latest value of each point.
 */
export class Pipeline {
  readonly counters: PipelineCounters = { received: 0, stored: 0, filtered: 0, unknown: 0, storeErrors: 0 };
  private readonly points: Map<string, PipelinePoint>;
  /** The last sample stored per point: the deadband reference, and what /status and the API show. */
  private readonly last = new Map<string, Sample>();

  constructor(private readonly options: PipelineOptions) {
    this.points = new Map(options.points.map((p) => [p.id, p]));
  }

  /** Handles one driver batch. Never throws: a driver's poll loop must not die of a store failure. */
  process(samples: readonly Sample[]): void {
    this.counters.received += samples.length;
    const keep: Sample[] = [];
    // The deadband reference of a point is the last sample kept, even earlier in this same batch.
    const keptNow = new Map<string, Sample>();
    for (const raw of samples) {
      const point = this.points.get(raw.point);
      if (!point) {
        this.counters.unknown++;
        continue;
      }
      const sample: Sample = raw.value === null ? raw : { ...raw, value: toEngineering(raw.value, point) };
      if (this.withinDeadband(point, sample, keptNow.get(sample.point) ?? this.last.get(sample.point))) {
        this.counters.filtered++;
        continue;
      }
      keep.push(sample);
      keptNow.set(sample.point, sample);
    }
    if (keep.length === 0) return;
    try {
      this.options.outbox.append(
        "telemetry",
        keep.map((s) => ({ ts: s.ts, body: JSON.stringify(s) })),
      );
    } catch (err) {
      this.counters.storeErrors += keep.length;
      this.options.logger.error({ err: errorMessage(err), lost: keep.length }, "store write failed");
      return;
    }
    this.counters.stored += keep.length;
    for (const s of keep) this.last.set(s.point, s);
    try {
      this.options.onStored?.();
    } catch (err) {
      this.options.logger.error({ err: errorMessage(err) }, "notifying the uplink failed; the samples are stored and will be sent");
    }
  }

  /** The latest stored sample of every point that has one. */
  latest(): ReadonlyMap<string, Sample> {
    return this.last;
  }

  private withinDeadband(point: PipelinePoint, sample: Sample, prev: Sample | undefined): boolean {
    if (point.deadband <= 0) return false;
    if (!prev || prev.quality !== sample.quality) return false;
    if (typeof sample.value !== "number" || typeof prev.value !== "number") return sample.value === prev.value;
    return Math.abs(sample.value - prev.value) <= point.deadband;
  }
}
