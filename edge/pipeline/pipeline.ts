import type { Sample } from "../model.js";
import type { Logger } from "../logger.js";
import type { NewRecord, RecordKind } from "../store/outbox.js";
import { errorMessage } from "../errors.js";
import { toEngineering } from "./scaling.js";
import type { PointBaseConfig } from "../drivers/point-schema.js";
import { LatestReadings, type Reading } from "./latest-readings.js";

export type PipelinePoint = Pick<PointBaseConfig, "id" | "scale" | "offset" | "deadband">;

export interface PipelineOptions {
  points: readonly PipelinePoint[];
  /** Where records go: the outbox itself, or a StoreWriter that holds them in memory while the disk refuses. */
  outbox: { append(kind: RecordKind, records: NewRecord[]): unknown };
  logger: Logger;
  /** Called after samples were committed, so the uplink can send them. */
  onStored?: () => void;
  /**
   * Samples arriving within this many ms are committed in one transaction (0 = one per driver batch).
   * A sample counts as stored only once committed, so this is also how long a crash can lose them.
   */
  commitDelayMs?: number;
  /**
   * Every driver batch after scaling and before the deadband (the rules see each reading, not only
   * the ones worth storing). Not called for samples handed in through processDerived().
   */
  onSamples?: (samples: readonly Sample[]) => void;
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
 * deadband, then commit in one transaction (all driver batches of a short window together, so a
 * hundred devices polled each second cost a few commits, not a hundred). Keeps the latest value of
 * each point.
 */
export class Pipeline {
  readonly counters: PipelineCounters = { received: 0, stored: 0, filtered: 0, unknown: 0, storeErrors: 0 };
  private readonly points: Map<string, PipelinePoint>;
  /** Points computed by rules (virtual points): stored like readings, never scaled. */
  private derived = new Set<string>();
  /** The last reading stored per point: what /status and the API show. */
  private readonly stored = new LatestReadings();
  /** The last reading kept per point, committed or not: the deadband reference. */
  private readonly kept = new LatestReadings();
  private buffer: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: PipelineOptions) {
    this.points = new Map(options.points.map((p) => [p.id, p]));
  }

  /** Handles one driver batch. Never throws: a driver's poll loop must not die of a store failure. */
  process(samples: readonly Sample[]): void {
    this.counters.received += samples.length;
    const scaled: Sample[] = [];
    for (const raw of samples) {
      const point = this.points.get(raw.point);
      if (!point) {
        this.counters.unknown++;
        continue;
      }
      const value = raw.value === null ? null : toEngineering(raw.value, point);
      // A sample whose value scaling leaves as it is (most points: no scale or offset) goes on as the
      // driver made it; a copy per reading would be 10,000 short-lived objects a second at plant scale.
      scaled.push(value === raw.value ? raw : { ...raw, value });
    }
    if (this.options.onSamples && scaled.length > 0) {
      try {
        this.options.onSamples(scaled);
      } catch (err) {
        this.options.logger.error({ err: errorMessage(err) }, "the sample hook (rules) failed; the samples are still stored");
      }
    }
    this.keep(scaled);
  }

  /**
   * Samples of virtual points (set by rules): stored and sent like readings, without scaling and
   * without going back to the hook that produced them.
   */
  processDerived(samples: readonly Sample[]): void {
    this.counters.received += samples.length;
    const known: Sample[] = [];
    for (const s of samples) {
      if (this.derived.has(s.point)) known.push(s);
      else this.counters.unknown++;
    }
    this.keep(known);
  }

  /** Replaces the set of virtual point ids (rules reloaded); ids of device points are ignored. */
  setDerivedPoints(ids: Iterable<string>): void {
    this.derived = new Set([...ids].filter((id) => !this.points.has(id)));
  }

  private keep(samples: readonly Sample[]): void {
    let kept = 0;
    for (const sample of samples) {
      const point = this.points.get(sample.point);
      if (point && this.withinDeadband(point, sample, this.kept.get(sample.point))) {
        this.counters.filtered++;
        continue;
      }
      this.buffer.push(sample);
      this.kept.set(sample);
      kept++;
    }
    if (kept === 0) return;
    const delay = this.options.commitDelayMs ?? 0;
    if (delay <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), delay);
  }

  /** Commits what is buffered now (also called on stop, so nothing accepted is left behind). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.buffer;
    if (batch.length === 0) return;
    this.buffer = [];
    try {
      this.options.outbox.append(
        "telemetry",
        batch.map((s) => ({ ts: s.ts, json: JSON.stringify(s) })),
      );
    } catch (err) {
      this.counters.storeErrors += batch.length;
      // The deadband reference must not point at values that were never stored.
      for (const s of batch) this.kept.restore(s.point, this.stored);
      this.options.logger.error({ err: errorMessage(err), lost: batch.length }, "store write failed");
      return;
    }
    this.counters.stored += batch.length;
    for (const s of batch) this.stored.set(s);
    try {
      this.options.onStored?.();
    } catch (err) {
      this.options.logger.error({ err: errorMessage(err) }, "notifying the uplink failed; the samples are stored and will be sent");
    }
  }

  /** The latest stored sample of every point that has one (a snapshot, made on each call). */
  latest(): ReadonlyMap<string, Sample> {
    return this.stored.samples();
  }

  private withinDeadband(point: PipelinePoint, sample: Sample, prev: Readonly<Reading> | undefined): boolean {
    if (point.deadband <= 0) return false;
    if (!prev || prev.quality !== sample.quality) return false;
    if (typeof sample.value !== "number" || typeof prev.value !== "number") return sample.value === prev.value;
    return Math.abs(sample.value - prev.value) <= point.deadband;
  }
}
