/**
 * The outbox holds every record until the uplink's broker has acknowledged it. Records are stored in
 * rows of up to a few hundred (one driver batch), so a poll of 100 points is one INSERT, not 100,
 * and an acknowledged MQTT batch is a few DELETEs. Every record still has its own seq.
 */

/** What a record is; alarms and events outrank telemetry when a bound forces drops. */
export type RecordKind = "telemetry" | "event" | "alarm";

/** The order in which a bound drops records, in the store and in the memory buffer alike: least valuable first. */
export const DROP_ORDER: readonly RecordKind[] = ["telemetry", "event", "alarm"];

/** A record to store: its time and its JSON object text (without seq: the outbox assigns it). */
export interface NewRecord {
  ts: number;
  json: string;
}

/** One stored row: `count` records with the contiguous seqs firstSeq .. firstSeq + count - 1. */
export interface OutboxBatch {
  firstSeq: number;
  count: number;
  kind: RecordKind;
  /** JSON array text of the records, each object carrying its `seq` first. */
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
  /** Records dropped by a bound since this process started, by reason (maxRows, maxAge, maxBytes). */
  dropped: { total: number; rows: number; age: number; bytes: number };
  /** The highest seq ever assigned (0 when none). */
  lastSeq: number;
  epoch: string;
  /** Bytes the database uses (outbox and history), and its bound (0 = none). */
  bytes: number;
  maxBytes: number;
  history: { rows: number; bytes: number; dropped: number };
}

export interface Outbox {
  /** Identifies this database's lifetime: a reset database gets a new epoch, so seqs never collide. */
  readonly epoch: string;
  /** The highest seq ever assigned (0 when none); cheap, unlike stats(). */
  readonly lastSeq: number;
  /** Stores records in one transaction and returns the seqs they got; stored once this returns. */
  append(kind: RecordKind, records: readonly NewRecord[]): SeqRange | null;
  /** The oldest pending rows with firstSeq > afterSeq, oldest first: whole rows, at most maxRecords records (a single bigger row goes alone). */
  peek(afterSeq: number, maxRecords: number): OutboxBatch[];
  /** Like peek(), but only alarms and events: what the uplink sends ahead of telemetry. */
  peekPriority(afterSeq: number, maxRecords: number): OutboxBatch[];
  /** Like peek(), but only telemetry. */
  peekTelemetry(afterSeq: number, maxRecords: number): OutboxBatch[];
  /** Deletes acknowledged rows by their firstSeq; unknown ones are ignored (an ack can arrive twice). */
  ack(firstSeqs: readonly number[]): void;
  /** Applies the age bound now (the record bound is applied on every append). */
  enforceBounds(now: number): void;
  stats(): OutboxStats;
  close(): void;
}

/** `{"seq":N,...}` from a record's JSON object text. */
export function withSeq(seq: number, json: string): string {
  return json === "{}" ? `{"seq":${seq}}` : `{"seq":${seq},${json.slice(1)}`;
}
