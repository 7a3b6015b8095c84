import type { ModbusPointConfig, ModbusTable } from "./config.js";
import { pointWidth } from "./widths.js";

/** The protocol's limits on one read request: 125 registers (functions 3/4), 2000 bits (1/2). */
export const MAX_REGISTERS_PER_READ = 125;
export const MAX_BITS_PER_READ = 2000;

export function maxPerRead(table: ModbusTable): number {
  return table === "coil" || table === "discrete" ? MAX_BITS_PER_READ : MAX_REGISTERS_PER_READ;
}

export interface PlannedPoint {
  point: ModbusPointConfig;
  /** Index of the point's first register (or bit) inside the block's response. */
  offset: number;
  width: number;
}

/** One read request: a run of registers or bits in one table covering one or more points. */
export interface ReadBlock {
  table: ModbusTable;
  start: number;
  count: number;
  points: PlannedPoint[];
}

/** The points read at one interval, and the requests that read them. */
export interface PollGroup {
  pollMs: number;
  blocks: ReadBlock[];
}

/**
 * Plans the fewest read requests that cover every point: points in the same table whose addresses are
 * at most `maxGap` apart share a request, as long as it stays within the protocol's limit. Pure and
 * done once at start, so each poll only replays the plan.
 */
export function planReads(points: readonly ModbusPointConfig[], maxGap: number): ReadBlock[] {
  const blocks: ReadBlock[] = [];
  const byTable = new Map<ModbusTable, ModbusPointConfig[]>();
  for (const p of points) {
    const list = byTable.get(p.table) ?? [];
    list.push(p);
    byTable.set(p.table, list);
  }
  for (const [table, list] of byTable) {
    const limit = maxPerRead(table);
    const sorted = [...list].sort((a, b) => a.register - b.register);
    let current: ReadBlock | undefined;
    for (const point of sorted) {
      const width = pointWidth(point);
      const end = point.register + width; // exclusive
      if (current) {
        const currentEnd = current.start + current.count;
        const gap = point.register - currentEnd;
        const newCount = Math.max(currentEnd, end) - current.start;
        if (gap <= maxGap && newCount <= limit) {
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

/** Groups points by their poll interval (a point's own pollMs, else the device's) and plans each group. */
export function planPolls(points: readonly ModbusPointConfig[], device: { pollMs: number; maxGap: number }): PollGroup[] {
  const byInterval = new Map<number, ModbusPointConfig[]>();
  for (const p of points) {
    const ms = p.pollMs ?? device.pollMs;
    byInterval.set(ms, [...(byInterval.get(ms) ?? []), p]);
  }
  return [...byInterval]
    .sort(([a], [b]) => a - b)
    .map(([pollMs, list]) => ({ pollMs, blocks: planReads(list, device.maxGap) }));
}
