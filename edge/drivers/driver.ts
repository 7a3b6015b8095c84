import type { Clock, SampleSink, SampleValue } from "../model.js";
import type { Logger } from "../logger.js";
import type { SharedResources } from "./shared.js";

/** Connection state as a user sees it in /status. */
export type ConnectionState = "connecting" | "connected" | "disconnected" | "stopped";

export interface DriverCounters {
  /** Poll cycles started. */
  polls: number;
  /** Protocol requests sent (a poll cycle may need several). */
  requests: number;
  /** Requests or connections that failed. */
  errors: number;
  /** Samples handed to the sink (good and bad). */
  samples: number;
  /** Poll cycles skipped: the previous one was still running, or the event loop was too busy to poll on time. */
  overruns: number;
}

export interface DriverStatus {
  id: string;
  protocol: string;
  state: ConnectionState;
  connected: boolean;
  /** Where the device is, as the user configured it (e.g. `tcp://10.0.0.5:502 unit 1`). */
  endpoint: string;
  lastError: string | null;
  lastErrorAt: number | null;
  lastSuccessAt: number | null;
  counters: DriverCounters;
  /** Failures by kind (timeout, exception, crc, connection, ... as the protocol distinguishes them). */
  errorsByKind?: Record<string, number>;
  /** Request round-trip percentiles over recent requests; null before the first one. */
  latencyMs?: { p50: number; p95: number; p99: number; samples: number } | null;
}

/**
 * One device connection. A driver only knows how to talk to its device: it never touches the store or
 * the uplink, it hands samples to the sink it was started with. It reconnects on its own and reports
 * failures as `quality: "bad"` samples and in status, never by throwing out of its poll loop.
 */
export interface Driver {
  readonly id: string;
  start(sink: SampleSink): Promise<void>;
  /**
   * Writes a raw value (device units, before scale/offset): callers holding an engineering value
   * convert it with `toRaw` from edge/pipeline/scaling.ts first, as samples are scaled after the driver.
   */
  write(point: string, value: SampleValue): Promise<void>;
  /** Calls a method on the device (OPC UA methods), for rules and the API; absent where the protocol has none. */
  call?(method: string, args: SampleValue[]): Promise<SampleValue[]>;
  status(): DriverStatus;
  stop(): Promise<void>;
}

/** What the runtime gives every driver it creates. */
export interface DriverContext {
  logger: Logger;
  clock: Clock;
  /** Connections shared between drivers (one serial line, several devices). */
  shared: SharedResources;
  /** The agent's data folder (absolute); drivers keep state under it (OPC UA: {dataDir}/pki). Default ./data. */
  dataDir?: string;
}
