import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeSeqs, encodeTelemetryBatch } from "../../../edge/uplink/batch.js";
import { telemetryBatchSchema } from "../../../edge/uplink/batch-schema.js";
import { SqliteOutbox } from "../../../edge/store/sqlite-outbox.js";
import type { OutboxBatch } from "../../../edge/store/outbox.js";
import type { Sample } from "../../../edge/model.js";

const T0 = 1_700_000_000_000;

/**
 * A stored row as the outbox gives it: the samples with seqs firstSeq.. as a JSON array, seq first.
 * Built with JSON.stringify (not the outbox's own withSeq), so these tests do not share its bugs.
 */
function row(firstSeq: number, samples: readonly Sample[]): OutboxBatch {
  return {
    firstSeq,
    count: samples.length,
    kind: "telemetry",
    body: JSON.stringify(samples.map((sample, i) => ({ seq: firstSeq + i, ...sample }))),
  };
}

const sample = (n: number): Sample => ({ point: `p${n}`, ts: T0 + n, value: n, quality: "good" });

function decode(text: string) {
  return telemetryBatchSchema.parse(JSON.parse(text));
}

describe("encodeTelemetryBatch", () => {
  it("produces JSON that passes the schema, with every field in place", () => {
    const rows = [
      row(7, [
        { point: "temp", ts: T0, value: 23.4, quality: "good" },
        { point: "run", ts: T0 + 1, value: true, quality: "good" },
      ]),
      row(9, [{ point: "temp", ts: T0 + 2, value: null, quality: "bad", reason: "timeout" }]),
    ];
    const batch = decode(encodeTelemetryBatch("gw-01", "a1b2c3d4e5f60718", rows));
    expect(batch).toEqual({
      v: 1,
      device: "gw-01",
      epoch: "a1b2c3d4e5f60718",
      seqs: { first: 7, last: 9 },
      count: 3,
      samples: [
        { seq: 7, point: "temp", ts: T0, value: 23.4, quality: "good" },
        { seq: 8, point: "run", ts: T0 + 1, value: true, quality: "good" },
        { seq: 9, point: "temp", ts: T0 + 2, value: null, quality: "bad", reason: "timeout" },
      ],
    });
  });

  it("a single record is the range first = last", () => {
    const batch = decode(encodeTelemetryBatch("d", "e", [row(42, [{ point: "p", ts: T0, value: 1, quality: "good" }])]));
    expect(batch.seqs).toEqual({ first: 42, last: 42 });
    expect(batch.count).toBe(1);
    expect(batch.samples[0]!.seq).toBe(42);
  });

  it("count is the number of records of all rows, not the number of rows", () => {
    const rows = [row(1, [sample(1), sample(2), sample(3)]), row(4, [sample(4)]), row(5, [sample(5), sample(6)])];
    const batch = decode(encodeTelemetryBatch("d", "e", rows));
    expect(batch.count).toBe(6);
    expect(batch.samples).toHaveLength(6);
    expect(batch.seqs).toEqual({ first: 1, last: 6 });
    expect(batch.samples.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("lists the exact seqs when the rows are not contiguous, and each sample keeps its own seq", () => {
    const rows = [row(1, [sample(1), sample(2)]), row(4, [sample(4)]), row(10, [sample(10)])];
    const batch = decode(encodeTelemetryBatch("d", "e", rows));
    expect(batch.seqs).toEqual([1, 2, 4, 10]);
    expect(batch.samples.map((x) => [x.seq, x.point, x.value])).toEqual([
      [1, "p1", 1],
      [2, "p2", 2],
      [4, "p4", 4],
      [10, "p10", 10],
    ]);
    expect(batch.count).toBe(4);
  });

  it("strings with quotes, backslashes, control characters and unicode survive, in values and ids", () => {
    const nasty = 'say "hi" \\ back\\slash \n newline \t tab \u0000 nul — °C 温度 😀 \u2028';
    const rows = [
      row(1, [
        { point: "p", ts: T0, value: nasty, quality: "uncertain", reason: 'bad "frame"' },
        { point: "p", ts: T0, value: "18446744073709551615", quality: "good" },
      ]),
      row(3, [{ point: '[p],"q"', ts: T0, value: "]},{", quality: "good" }]),
    ];
    const device = 'gw "01" ✓';
    const epoch = "ep\\och";
    const text = encodeTelemetryBatch(device, epoch, rows);
    const batch = decode(text);
    expect(batch.device).toBe(device);
    expect(batch.epoch).toBe(epoch);
    expect(batch.samples[0]!.value).toBe(nasty);
    expect(batch.samples[0]!.reason).toBe('bad "frame"');
    // 64-bit integers stay exact strings, never numbers
    expect(batch.samples[1]!.value).toBe("18446744073709551615");
    // brackets inside strings do not confuse the splicing of rows
    expect(batch.samples[2]).toEqual({ seq: 3, point: '[p],"q"', ts: T0, value: "]},{", quality: "good" });
  });

  it("numbers survive exactly, including negatives, exponents and fractions", () => {
    const values = [-0.5, 1e-7, 6.02e23, -2147483648, 0.30000000000000004, Number.MAX_SAFE_INTEGER];
    const rows = [row(1, values.map((v) => ({ point: "p", ts: T0, value: v, quality: "good" as const })))];
    const batch = decode(encodeTelemetryBatch("d", "e", rows));
    expect(batch.samples.map((x) => x.value)).toEqual(values);
  });

  it("is exactly what JSON.stringify of the parsed payload gives back (no stray characters)", () => {
    const rows = [
      row(3, [{ point: "a", ts: T0, value: 1, quality: "good" }]),
      row(5, [
        { point: "b", ts: T0, value: "x", quality: "good" },
        { point: "c", ts: T0, value: false, quality: "good" },
      ]),
    ];
    const text = encodeTelemetryBatch("d", "e", rows);
    expect(JSON.stringify(JSON.parse(text))).toBe(text);
    expect(decode(text).seqs).toEqual([3, 5, 6]);
  });

  it("stays valid for a large batch of many rows", () => {
    const rows = Array.from({ length: 10 }, (_, r) =>
      row(
        1000 + r * 500,
        Array.from({ length: 500 }, (_, j) => {
          const i = r * 500 + j;
          return { point: `p${i % 17}`, ts: T0 + i, value: i * 0.5, quality: "good" as const };
        }),
      ),
    );
    const batch = decode(encodeTelemetryBatch("d", "e", rows));
    expect(batch.count).toBe(5000);
    expect(batch.seqs).toEqual({ first: 1000, last: 5999 });
    expect(batch.samples.map((x) => x.seq)).toEqual(Array.from({ length: 5000 }, (_, i) => 1000 + i));
    expect(batch.samples[4999]).toEqual({ seq: 5999, point: "p1", ts: T0 + 4999, value: 2499.5, quality: "good" });
  });
});

describe("describeSeqs", () => {
  const r = (firstSeq: number, count = 1): OutboxBatch => ({
    firstSeq,
    count,
    kind: "telemetry",
    body: JSON.stringify(Array.from({ length: count }, (_, i) => ({ seq: firstSeq + i }))),
  });

  it("gives a range for one row, first..first + count - 1", () => {
    expect(describeSeqs([r(5)])).toEqual({ first: 5, last: 5 });
    expect(describeSeqs([r(5, 3)])).toEqual({ first: 5, last: 7 });
    expect(describeSeqs([r(1, 500)])).toEqual({ first: 1, last: 500 });
  });

  it("gives a range for rows that follow each other in seq space, whatever their sizes", () => {
    expect(describeSeqs([r(5), r(6), r(7)])).toEqual({ first: 5, last: 7 });
    expect(describeSeqs([r(1, 500), r(501, 500), r(1001, 234)])).toEqual({ first: 1, last: 1234 });
    expect(describeSeqs([r(10, 2), r(12, 1), r(13, 4)])).toEqual({ first: 10, last: 16 });
  });

  it("lists every seq of every row when the rows are not contiguous", () => {
    expect(describeSeqs([r(5), r(7)])).toEqual([5, 7]);
    expect(describeSeqs([r(5, 2), r(8, 2)])).toEqual([5, 6, 8, 9]);
    expect(describeSeqs([r(1, 3), r(4, 2), r(10, 3)])).toEqual([1, 2, 3, 4, 5, 10, 11, 12]);
    // a gap anywhere breaks the range: between the first two rows, or only between the last two
    expect(describeSeqs([r(1), r(3), r(4)])).toEqual([1, 3, 4]);
    expect(describeSeqs([r(1, 2), r(3, 2), r(6, 1)])).toEqual([1, 2, 3, 4, 6]);
  });
});

describe("batches from a real outbox", () => {
  let dir: string;
  let outbox: SqliteOutbox;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edge-batch-"));
    outbox = new SqliteOutbox({ path: join(dir, "outbox.db"), maxRows: 100_000, maxAgeMs: 0, synchronous: "normal", rowMax: 4 });
  });

  afterEach(() => {
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const append = (from: number, n: number) =>
    outbox.append(
      "telemetry",
      Array.from({ length: n }, (_, i) => ({ ts: T0 + from + i, json: JSON.stringify(sample(from + i)) })),
    );

  it("peeked rows encode to a valid batch carrying every record with its own seq", () => {
    append(0, 10); // rows 1..4, 5..8, 9..10
    append(10, 3); // row 11..13
    const rows = outbox.peek(0, 1000);
    const batch = decode(encodeTelemetryBatch("gw", outbox.epoch, rows));
    expect(batch.epoch).toBe(outbox.epoch);
    expect(batch.seqs).toEqual({ first: 1, last: 13 });
    expect(batch.count).toBe(13);
    expect(batch.samples).toEqual(Array.from({ length: 13 }, (_, i) => ({ seq: i + 1, ...sample(i) })));
  });

  it("after a row in the middle is acknowledged, the next batch lists its seqs", () => {
    append(0, 12); // rows 1, 5, 9
    outbox.ack([5]);
    const rows = outbox.peek(0, 1000);
    const batch = decode(encodeTelemetryBatch("gw", outbox.epoch, rows));
    expect(batch.seqs).toEqual([1, 2, 3, 4, 9, 10, 11, 12]);
    expect(batch.count).toBe(8);
    expect(batch.samples.map((x) => x.seq)).toEqual([1, 2, 3, 4, 9, 10, 11, 12]);
    expect(batch.samples.map((x) => x.value)).toEqual([0, 1, 2, 3, 8, 9, 10, 11]);
  });
});
