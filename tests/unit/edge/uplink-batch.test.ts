import { describe, expect, it } from "vitest";
import { describeSeqs, encodeTelemetryBatch, telemetryBatchSchema } from "../../../edge/uplink/batch.js";
import type { OutboxRecord } from "../../../edge/store/outbox.js";
import type { Sample } from "../../../edge/model.js";

const T0 = 1_700_000_000_000;

function rec(seq: number, sample: Sample): OutboxRecord {
  return { seq, kind: "telemetry", ts: sample.ts, body: JSON.stringify(sample) };
}

function decode(text: string) {
  return telemetryBatchSchema.parse(JSON.parse(text));
}

describe("encodeTelemetryBatch", () => {
  it("produces JSON that passes the schema, with every field in place", () => {
    const records = [
      rec(7, { point: "temp", ts: T0, value: 23.4, quality: "good" }),
      rec(8, { point: "run", ts: T0 + 1, value: true, quality: "good" }),
      rec(9, { point: "temp", ts: T0 + 2, value: null, quality: "bad", reason: "timeout" }),
    ];
    const batch = decode(encodeTelemetryBatch("gw-01", "a1b2c3d4e5f60718", records));
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
    const batch = decode(encodeTelemetryBatch("d", "e", [rec(42, { point: "p", ts: T0, value: 1, quality: "good" })]));
    expect(batch.seqs).toEqual({ first: 42, last: 42 });
    expect(batch.count).toBe(1);
    expect(batch.samples[0]!.seq).toBe(42);
  });

  it("lists the exact seqs when they are not contiguous, and each sample keeps its own seq", () => {
    const records = [1, 2, 4, 10].map((seq) => rec(seq, { point: `p${seq}`, ts: T0 + seq, value: seq, quality: "good" }));
    const batch = decode(encodeTelemetryBatch("d", "e", records));
    expect(batch.seqs).toEqual([1, 2, 4, 10]);
    expect(batch.samples.map((s) => [s.seq, s.point, s.value])).toEqual([
      [1, "p1", 1],
      [2, "p2", 2],
      [4, "p4", 4],
      [10, "p10", 10],
    ]);
    expect(batch.count).toBe(4);
  });

  it("strings with quotes, backslashes, control characters and unicode survive, in values and ids", () => {
    const nasty = 'say "hi" \\ back\\slash \n newline \t tab \u0000 nul — °C 温度 😀 \u2028';
    const records = [
      rec(1, { point: "p", ts: T0, value: nasty, quality: "uncertain", reason: 'bad "frame"' }),
      rec(2, { point: "p", ts: T0, value: "18446744073709551615", quality: "good" }),
    ];
    const device = 'gw "01" ✓';
    const epoch = "ep\\och";
    const text = encodeTelemetryBatch(device, epoch, records);
    const batch = decode(text);
    expect(batch.device).toBe(device);
    expect(batch.epoch).toBe(epoch);
    expect(batch.samples[0]!.value).toBe(nasty);
    expect(batch.samples[0]!.reason).toBe('bad "frame"');
    // 64-bit integers stay exact strings, never numbers
    expect(batch.samples[1]!.value).toBe("18446744073709551615");
  });

  it("numbers survive exactly, including negatives, exponents and fractions", () => {
    const values = [-0.5, 1e-7, 6.02e23, -2147483648, 0.30000000000000004, Number.MAX_SAFE_INTEGER];
    const records = values.map((v, i) => rec(i + 1, { point: "p", ts: T0, value: v, quality: "good" }));
    const batch = decode(encodeTelemetryBatch("d", "e", records));
    expect(batch.samples.map((s) => s.value)).toEqual(values);
  });

  it("is exactly what JSON.stringify of the parsed payload gives back (no stray characters)", () => {
    const records = [
      rec(3, { point: "a", ts: T0, value: 1, quality: "good" }),
      rec(5, { point: "b", ts: T0, value: "x", quality: "good" }),
    ];
    const text = encodeTelemetryBatch("d", "e", records);
    expect(JSON.stringify(JSON.parse(text))).toBe(text);
  });

  it("stays valid for a large batch", () => {
    const records = Array.from({ length: 5000 }, (_, i) =>
      rec(1000 + i, { point: `p${i % 17}`, ts: T0 + i, value: i * 0.5, quality: "good" }),
    );
    const batch = decode(encodeTelemetryBatch("d", "e", records));
    expect(batch.count).toBe(5000);
    expect(batch.seqs).toEqual({ first: 1000, last: 5999 });
    expect(batch.samples[4999]).toEqual({ seq: 5999, point: "p1", ts: T0 + 4999, value: 2499.5, quality: "good" });
  });
});

describe("describeSeqs", () => {
  const r = (seq: number): OutboxRecord => ({ seq, kind: "telemetry", ts: T0, body: "{}" });

  it("gives a range only for a contiguous run", () => {
    expect(describeSeqs([r(5), r(6), r(7)])).toEqual({ first: 5, last: 7 });
    expect(describeSeqs([r(5), r(7)])).toEqual([5, 7]);
    expect(describeSeqs([r(5), r(6), r(8), r(9)])).toEqual([5, 6, 8, 9]);
  });
});
