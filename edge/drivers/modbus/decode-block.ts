import type { Sample } from "../../model.js";
import { decodeRegisters, decodeString } from "./codec.js";
import type { ReadBlock } from "./plan.js";

/** Turns one block's response (registers or bits) into a sample per point. */
export function decodeBlock(block: ReadBlock, data: ReadonlyArray<number | boolean>, ts: number): Sample[] {
  const out: Sample[] = [];
  for (const { point, offset, width } of block.points) {
    let value: Sample["value"];
    if (block.table === "coil" || block.table === "discrete") {
      value = data[offset] === true;
    } else {
      const words = data.slice(offset, offset + width) as number[];
      if (point.type === "bool") value = (((words[0] ?? 0) >> (point.bit ?? 0)) & 1) === 1;
      else if (point.type === "string") value = decodeString(words, point.byteOrder);
      else value = decodeRegisters(words, point.type, point.byteOrder);
    }
    out.push({ point: point.id, ts, value, quality: "good" });
  }
  return out;
}
