import type { Clock, Sample, SampleSink } from "../model.js";
import type { Logger } from "../logger.js";
import { errorMessage } from "../errors.js";
import type { DriverCounters, DriverStatus } from "./driver.js";

/**
 * The bookkeeping every driver shows in status: counters, errors by kind, the last error and the last
 * success; and the one guarded hand-over of samples to the sink, so a failing consumer is logged and
 * never breaks a driver's poll or subscription loop.
 */
export class DriverStats<K extends string> {
  readonly counters: DriverCounters = { polls: 0, requests: 0, errors: 0, samples: 0, overruns: 0 };
  readonly errorsByKind: Record<K, number>;
  lastError: string | null = null;
  lastErrorAt: number | null = null;
  lastSuccessAt: number | null = null;

  constructor(
    kinds: readonly K[],
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.errorsByKind = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<K, number>;
  }

  countError(kind: K, message: string): void {
    this.counters.errors++;
    this.errorsByKind[kind]++;
    this.lastError = `${kind}: ${message}`;
    this.lastErrorAt = this.clock();
  }

  deliver(sink: SampleSink | null, samples: Sample[]): void {
    if (samples.length === 0 || !sink) return;
    this.counters.samples += samples.length;
    try {
      sink(samples);
    } catch (err) {
      // A failing consumer is the runtime's problem to report; the driver must go on.
      this.logger.error({ err: errorMessage(err) }, "sample sink failed");
    }
  }

  snapshot(): Pick<DriverStatus, "counters" | "errorsByKind" | "lastError" | "lastErrorAt" | "lastSuccessAt"> {
    return {
      counters: { ...this.counters },
      errorsByKind: { ...this.errorsByKind },
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      lastSuccessAt: this.lastSuccessAt,
    };
  }
}
