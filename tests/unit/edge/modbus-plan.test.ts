import { describe, expect, it } from "vitest";
import { MAX_REGISTERS_PER_READ, planReads, type ReadBlock } from "../../../edge/drivers/modbus/plan.js";
import { modbusPointSchema, type ModbusPointConfig } from "../../../edge/drivers/modbus/config.js";

function pt(id: string, register: number, extra: Record<string, unknown> = {}): ModbusPointConfig {
  return modbusPointSchema.parse({ id, register, ...extra });
}

/** Compact view of a plan: table, start, count and each point with its offset. */
function shape(blocks: ReadBlock[]) {
  return blocks.map((b) => ({
    table: b.table,
    start: b.start,
    count: b.count,
    points: b.points.map((p) => [p.point.id, p.offset, p.width] as const),
  }));
}

/** Every point must lie wholly inside its block and at the right offset. */
function checkInvariants(blocks: ReadBlock[], points: ModbusPointConfig[]) {
  const seen: string[] = [];
  for (const b of blocks) {
    expect(b.count).toBeGreaterThan(0);
    expect(b.count).toBeLessThanOrEqual(MAX_REGISTERS_PER_READ);
    for (const p of b.points) {
      expect(p.point.table).toBe(b.table);
      expect(p.offset).toBe(p.point.register - b.start);
      expect(p.offset).toBeGreaterThanOrEqual(0);
      expect(p.offset + p.width).toBeLessThanOrEqual(b.count);
      seen.push(p.point.id);
    }
  }
  expect(seen.sort()).toEqual(points.map((p) => p.id).sort());
}

describe("planReads", () => {
  it("defaults from the schema: holding table, uint16 (1 register)", () => {
    const p = pt("a", 7);
    expect(p.table).toBe("holding");
    expect(p.type).toBe("uint16");
    expect(planReads([p], 0)).toEqual([
      { table: "holding", start: 7, count: 1, points: [{ point: p, offset: 0, width: 1 }] },
    ]);
  });

  it("returns no blocks for no points", () => {
    expect(planReads([], 16)).toEqual([]);
  });

  it("coalesces adjacent points into one block, whatever their input order", () => {
    const points = [pt("c", 12), pt("a", 10), pt("b", 11)];
    const blocks = planReads(points, 0);
    expect(shape(blocks)).toEqual([
      {
        table: "holding",
        start: 10,
        count: 3,
        points: [
          ["a", 0, 1],
          ["b", 1, 1],
          ["c", 2, 1],
        ],
      },
    ]);
    checkInvariants(blocks, points);
  });

  it("bridges a gap of exactly maxGap and splits on maxGap + 1", () => {
    // a occupies 0; gap of 5 unread registers (1..5); b at 6
    const within = [pt("a", 0), pt("b", 6)];
    expect(shape(planReads(within, 5))).toEqual([
      { table: "holding", start: 0, count: 7, points: [["a", 0, 1], ["b", 6, 1]] },
    ]);
    expect(shape(planReads(within, 4))).toEqual([
      { table: "holding", start: 0, count: 1, points: [["a", 0, 1]] },
      { table: "holding", start: 6, count: 1, points: [["b", 0, 1]] },
    ]);
  });

  it("maxGap 0 still merges touching points but never reads a register no point needs", () => {
    const points = [pt("a", 0), pt("b", 1), pt("c", 3)];
    const blocks = planReads(points, 0);
    expect(shape(blocks)).toEqual([
      { table: "holding", start: 0, count: 2, points: [["a", 0, 1], ["b", 1, 1]] },
      { table: "holding", start: 3, count: 1, points: [["c", 0, 1]] },
    ]);
  });

  it("counts multi-register widths (int32/float32 = 2, int64/uint64/float64 = 4)", () => {
    const points = [
      pt("f64", 100, { type: "float64" }),
      pt("u16", 104),
      pt("f32", 105, { type: "float32" }),
      pt("i64", 107, { type: "int64" }),
      pt("u32", 111, { type: "uint32" }),
    ];
    const blocks = planReads(points, 0);
    expect(shape(blocks)).toEqual([
      {
        table: "holding",
        start: 100,
        count: 13,
        points: [
          ["f64", 0, 4],
          ["u16", 4, 1],
          ["f32", 5, 2],
          ["i64", 7, 4],
          ["u32", 11, 2],
        ],
      },
    ]);
    checkInvariants(blocks, points);
  });

  it("measures a gap from the end of the previous value, not its first register", () => {
    // float64 at 0 ends at 3 (inclusive); next at 5 leaves a gap of 1 register (4)
    const points = [pt("f64", 0, { type: "float64" }), pt("b", 5)];
    expect(planReads(points, 0)).toHaveLength(2);
    expect(shape(planReads(points, 1))).toEqual([
      { table: "holding", start: 0, count: 6, points: [["f64", 0, 4], ["b", 5, 1]] },
    ]);
  });

  it("handles overlapping points (two views of the same registers)", () => {
    const points = [
      pt("whole", 20, { type: "uint32" }),
      pt("hi", 20),
      pt("lo", 21),
      pt("wide", 19, { type: "float64" }),
    ];
    const blocks = planReads(points, 0);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]!.start).toBe(19);
    expect(blocks[0]!.count).toBe(4); // 19..22
    const offsets = Object.fromEntries(blocks[0]!.points.map((p) => [p.point.id, p.offset]));
    expect(offsets).toEqual({ wide: 0, whole: 1, hi: 1, lo: 2 });
    checkInvariants(blocks, points);
  });

  it("a point contained in a previous wider one does not shrink the block", () => {
    const points = [pt("f64", 0, { type: "float64" }), pt("inside", 1)];
    const blocks = planReads(points, 0);
    expect(shape(blocks)).toEqual([
      { table: "holding", start: 0, count: 4, points: [["f64", 0, 4], ["inside", 1, 1]] },
    ]);
  });

  it("never lets a block exceed 125 registers", () => {
    const points = Array.from({ length: 300 }, (_, i) => pt(`p${i}`, i));
    const blocks = planReads(points, 16);
    expect(blocks.map((b) => [b.start, b.count])).toEqual([
      [0, 125],
      [125, 125],
      [250, 50],
    ]);
    checkInvariants(blocks, points);
  });

  it("starts a new block rather than cut a multi-register value at the 125 limit", () => {
    // 0..123 uint16 (124 registers) then a float32 at 124..125 would make 126
    const points = [...Array.from({ length: 124 }, (_, i) => pt(`p${i}`, i)), pt("f", 124, { type: "float32" })];
    const blocks = planReads(points, 0);
    expect(blocks.map((b) => [b.start, b.count])).toEqual([
      [0, 124],
      [124, 2],
    ]);
    expect(shape(blocks)[1]!.points).toEqual([["f", 0, 2]]);
    checkInvariants(blocks, points);
  });

  it("fills a block to exactly 125 registers when the last value ends there", () => {
    const points = [pt("first", 0), pt("last", 121, { type: "uint64" })]; // 121..124
    const blocks = planReads(points, 124);
    expect(blocks.map((b) => [b.start, b.count])).toEqual([[0, 125]]);
  });

  it("splits at the limit even when the gap is allowed", () => {
    const points = [pt("a", 0), pt("b", 125)]; // would need 126 registers
    expect(planReads(points, 124).map((b) => [b.start, b.count])).toEqual([
      [0, 1],
      [125, 1],
    ]);
  });

  it("never mixes holding and input registers in one block", () => {
    const points = [
      pt("h0", 0),
      pt("i1", 1, { table: "input" }),
      pt("h2", 2),
      pt("i3", 3, { table: "input", type: "float32" }),
    ];
    const blocks = planReads(points, 16);
    expect(shape(blocks)).toEqual([
      { table: "holding", start: 0, count: 3, points: [["h0", 0, 1], ["h2", 2, 1]] },
      { table: "input", start: 1, count: 4, points: [["i1", 0, 1], ["i3", 2, 2]] },
    ]);
    checkInvariants(blocks, points);
  });

  it("random layouts always satisfy the invariants", () => {
    const types = ["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64"];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 50; round++) {
      const points = Array.from({ length: 1 + rand(60) }, (_, i) =>
        pt(`p${i}`, rand(400), { type: types[rand(types.length)], table: rand(2) ? "input" : "holding" }),
      );
      const maxGap = rand(40);
      const blocks = planReads(points, maxGap);
      checkInvariants(blocks, points);
      // blocks of one table never overlap each other
      for (const table of ["holding", "input"] as const) {
        const own = blocks.filter((b) => b.table === table).sort((a, b) => a.start - b.start);
        for (let i = 1; i < own.length; i++) {
          expect(own[i]!.start).toBeGreaterThanOrEqual(own[i - 1]!.start + own[i - 1]!.count);
        }
      }
    }
  });

  it("does not mutate the caller's array", () => {
    const points = [pt("b", 5), pt("a", 1)];
    planReads(points, 16);
    expect(points.map((p) => p.id)).toEqual(["b", "a"]);
  });
});
