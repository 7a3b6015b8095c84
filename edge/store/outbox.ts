/**
 * The outbox holds every record until the uplink's broker has acknowledged it. Implementations share
 * one contract (tests/unit/store/outbox-contract.ts); SqliteOutbox is the one the agent uses.
 */

/** What a record is; alarms and events outrank telemetry when a bound forces drops. */
export type RecordKind = "telemetry" | "event" | "alarm";

export interface OutboxRecord {
  /** Strictly increasing per device, assigned at commit, never reused (not even after a restart). */
  seq: number;
  kind: RecordKind;
  ts: number;
  /** The record as a JSON object text, without its seq (the uplink adds it). */
  body: string;
}

export interface SeqRange {
  first: number;
  last: number;
}

export interface OutboxStats {
  /** Records stored and not yet acknowledged. */
  pending: number;
  /** Records acknowledged by the broker since this process started. */
  sent: number;
  /** Records dropped by a bound since this process started, by reason. */
  dropped: { total: number; rows: number; age: number };
  /** The highest seq ever assigned (0 when none). */
  lastSeq: number;
  epoch: string;
}

export interface Outbox {
  /** Identifies this database's lifetime: a reset database gets a new epoch, so seqs never collide. */
  readonly epoch: string;
  /** Stores records in one transaction and returns the seqs they got; stored once this returns. */
  append(kind: RecordKind, items: ReadonlyArray<{ ts: number; body: string }>): SeqRange | null;
  /** The oldest pending records with seq > afterSeq, oldest first. */
  peek(afterSeq: number, limit: number): OutboxRecord[];
  /** Deletes acknowledged records; unknown seqs are ignored (an ack can arrive twice). */
  ack(seqs: readonly number[]): void;
  /** Applies the age bound now (the row bound is applied on every append). */
  enforceBounds(now: number): void;
  stats(): OutboxStats;
  close(): void;
}
