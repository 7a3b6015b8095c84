import { registerTypeWidths, type ModbusPointConfig } from "./config.js";

/** The Modbus protocol's limit on registers in one read request (function 3/4). */
export const MAX_REGISTERS_PER_READ = 125;

export interface PlannedPoint {
  point: ModbusPointConfig;
  /** Index of the point's first register inside the block's response. */
  offset: number;
  width: number;
}

/** One read request: a run of registers in one table covering one or more points. */
export interface ReadBlock {
  table: ModbusPointConfig["table"];
  start: number;
  count: number;
  points: PlannedPoint[];
}

/**
 * Plans the fewest read requests that cover every point: points in the same table whose registers are
 * at most `maxGap` registers apart share a request, as long as it stays within the protocol's 125
 * registers. Pure and done once at start, so each poll only replays the plan.
 */
export function planReads(points: readonly ModbusPointConfig[], maxGap: number): ReadBlock[] {
  const blocks: ReadBlock[] = [];
  const byTable = new Map<ModbusPointConfig["table"], ModbusPointConfig[]>();
  for (const p of points) {
    const list = byTable.get(p.table) ?? [];
    list.push(p);
    byTable.set(p.table, list);
  }
  for (const [table, list] of byTable) {
    const sorted = [...list].sort((a, b) => a.register - b.register);
    let current: ReadBlock | undefined;
    for (const point of sorted) {
      const width = registerTypeWidths[point.type];
      const end = point.register + width; // exclusive
      if (current) {
        const currentEnd = current.start + current.count;
        const gap = point.register - currentEnd;
        const newCount = Math.max(currentEnd, end) - current.start;
        if (gap <= maxGap && newCount <= MAX_REGISTERS_PER_READ) {
          current.count = newCount;
          current.points.push({ point, offset: point.register - current.start, width });
          continue;
        }
      }
      current = { table, start: point.register, count: width, points: [{ point, offset: 0, width }] };
      blocks.push(current);
    }
  }
  return blocks;
}
