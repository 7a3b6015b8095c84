import type { Sample } from "../../model.js";
import { decodeRegistersAt, decodeStringAt } from "./codec.js";
import type { NumericRegisterType } from "./config.js";
import type { PlannedPoint, ReadBlock } from "./plan.js";

/** How a point is decoded, settled once per block rather than re-read from its config every poll. */
const BIT = 0; // a coil or discrete input
const U16 = 1; // uint16 in ABCD/CDAB order: the register itself
const REGISTER_BIT = 2; // bool: one bit of a register
const STRING = 3;
const OTHER = 4; // anything else: decodeRegistersAt

interface CompiledBlock {
  ids: string[];
  kinds: Uint8Array;
  offsets: Uint16Array;
  /** The bit of a REGISTER_BIT, the width of a STRING. */
  args: Uint8Array;
  points: PlannedPoint[];
}

const compiled = new WeakMap<ReadBlock, CompiledBlock>();

function compile(block: ReadBlock): CompiledBlock {
  const n = block.points.length;
  const c: CompiledBlock = { ids: [], kinds: new Uint8Array(n), offsets: new Uint16Array(n), args: new Uint8Array(n), points: block.points };
  const bits = block.table === "coil" || block.table === "discrete";
  block.points.forEach(({ point, offset, width }, i) => {
    c.ids.push(point.id);
    c.offsets[i] = offset;
    if (bits) c.kinds[i] = BIT;
    else if (point.type === "uint16" && (point.byteOrder === "ABCD" || point.byteOrder === "CDAB")) c.kinds[i] = U16;
    else if (point.type === "bool") {
      c.kinds[i] = REGISTER_BIT;
      c.args[i] = point.bit ?? 0;
    } else if (point.type === "string") {
      c.kinds[i] = STRING;
      c.args[i] = width;
    } else c.kinds[i] = OTHER;
  });
  return c;
}

/**
 * Turns one block's response (registers or bits) into a sample per point, appended to `out`. Values
 * are decoded in place from the response: nothing is copied or allocated per point but its sample.
 * The block's points are compiled into flat arrays on first use (a block is planned once and polled
 * for the life of the driver).
 */
export function decodeBlock(block: ReadBlock, data: ReadonlyArray<number | boolean>, ts: number, out: Sample[] = []): Sample[] {
  let c = compiled.get(block);
  if (c === undefined || c.points !== block.points || c.ids.length !== block.points.length) {
    c = compile(block);
    compiled.set(block, c);
  }
  const { ids, kinds, offsets, args } = c;
  // Appended by index rather than push(): V8 then grows the array inline instead of calling the push builtin per sample.
  let n = out.length;
  for (let i = 0; i < ids.length; i++) {
    const offset = offsets[i]!;
    let value: Sample["value"];
    switch (kinds[i]) {
      case BIT:
        value = data[offset] === true;
        break;
      case U16:
        value = (data[offset] as number) & 0xffff;
        break;
      case REGISTER_BIT:
        value = ((((data[offset] as number) & 0xffff) >> args[i]!) & 1) === 1;
        break;
      case STRING: {
        const point = c.points[i]!.point;
        value = decodeStringAt(data, offset, args[i]!, point.byteOrder);
        break;
      }
      default: {
        const point = c.points[i]!.point;
        value = decodeRegistersAt(data, offset, point.type as NumericRegisterType, point.byteOrder);
      }
    }
    out[n++] = { point: ids[i]!, ts, value, quality: "good" };
  }
  return out;
}
