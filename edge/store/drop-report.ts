import type { NewRecord } from "./outbox.js";

/** Records lost by reason: the store's bounds (rows, age, bytes) and the memory buffer during a disk fault. */
export interface DropCounts {
  rows: number;
  age: number;
  bytes: number;
  memory: number;
}

/**
 * Turns growth of the drop counters into one `store.dropped` event, stored in the outbox like any
 * event (so it reaches the fleet once the link is back, ahead of telemetry). Each event says how many
 * records went since the previous one, by reason, so a consumer can add them up.
 */
export class DropReporter {
  private reported: DropCounts = { rows: 0, age: 0, bytes: 0, memory: 0 };

  /** The event to store now, or null when nothing more was dropped. */
  next(current: DropCounts, now: number): NewRecord | null {
    const since: DropCounts = {
      rows: current.rows - this.reported.rows,
      age: current.age - this.reported.age,
      bytes: current.bytes - this.reported.bytes,
      memory: current.memory - this.reported.memory,
    };
    const total = since.rows + since.age + since.bytes + since.memory;
    if (total <= 0) return null;
    this.reported = { ...current };
    return { ts: now, json: JSON.stringify({ type: "store.dropped", ts: now, count: total, byReason: since }) };
  }
}
