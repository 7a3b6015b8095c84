import { EdgeError, errorMessage } from "../../errors.js";
import type { SampleValue } from "../../model.js";
import { encodeRegisters, encodeString } from "./codec.js";
import type { ModbusDeviceConfig, ModbusPointConfig } from "./config.js";
import type { ModbusClient } from "./link.js";

type WriteRequest = (client: ModbusClient) => Promise<unknown>;

function asBool(point: ModbusPointConfig, value: SampleValue): boolean {
  if (typeof value === "boolean") return value;
  if (value === 0 || value === 1) return value === 1;
  throw new EdgeError("WRITE_TYPE", `point ${point.id} takes true/false (or 0/1), got ${JSON.stringify(value)}`);
}

/**
 * Builds the request that writes a raw value to a point, checking type and range first (nothing is
 * sent for a value that does not fit). Functions: coil 5 (or 15), bit in a register 22 (mask write,
 * so the other bits are untouched without a read-modify-write race), register 6 (or 16), wider 16.
 */
export function writePoint(point: ModbusPointConfig, value: SampleValue, mode: ModbusDeviceConfig["writeFunction"]): WriteRequest {
  const at = point.register;
  if (point.table === "coil") {
    const on = asBool(point, value);
    return mode === "multiple" ? (c) => c.writeCoils(at, [on]) : (c) => c.writeCoil(at, on);
  }
  if (point.table !== "holding") throw new EdgeError("POINT_READ_ONLY", `point ${point.id} is in the read-only ${point.table} table`);
  if (point.type === "bool") {
    const mask = 1 << (point.bit ?? 0);
    const on = asBool(point, value);
    // Result = (current AND andMask) OR (orMask AND NOT andMask): clear the bit, then OR it back in when on.
    return (c) => c.maskWriteRegister(at, 0xffff ^ mask, on ? mask : 0);
  }
  let words: number[];
  try {
    if (point.type === "string") {
      if (typeof value !== "string") throw new RangeError(`a string point takes text, got ${JSON.stringify(value)}`);
      words = encodeString(value, point.length ?? 1, point.byteOrder);
    } else {
      if (typeof value === "boolean") throw new RangeError(`${point.type} takes a number, got ${value}`);
      words = encodeRegisters(value, point.type, point.byteOrder);
    }
  } catch (err) {
    throw new EdgeError("WRITE_RANGE", `point ${point.id}: ${errorMessage(err)}`, { cause: err });
  }
  if (words.length === 1 && mode === "single") return (c) => c.writeRegister(at, words[0] ?? 0);
  return (c) => c.writeRegisters(at, words);
}
