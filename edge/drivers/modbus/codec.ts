import type { ModbusPointConfig, NumericRegisterType } from "./config.js";
import { registerTypeWidths } from "./config.js";

type ByteOrder = ModbusPointConfig["byteOrder"];

/**
 * Puts registers into big-endian byte order (ABCD) or back: the same permutation both ways, since
 * reversing the words and swapping the bytes of each word are each their own inverse.
 */
function reorder(bytes: Buffer, byteOrder: ByteOrder): Buffer {
  const words = bytes.length / 2;
  const out = Buffer.alloc(bytes.length);
  const swapWords = byteOrder === "CDAB" || byteOrder === "DCBA";
  const swapBytes = byteOrder === "BADC" || byteOrder === "DCBA";
  for (let w = 0; w < words; w++) {
    const from = swapWords ? words - 1 - w : w;
    const hi = bytes[from * 2] ?? 0;
    const lo = bytes[from * 2 + 1] ?? 0;
    out[w * 2] = swapBytes ? lo : hi;
    out[w * 2 + 1] = swapBytes ? hi : lo;
  }
  return out;
}

function wordsToBytes(words: readonly number[]): Buffer {
  const buf = Buffer.alloc(words.length * 2);
  words.forEach((w, i) => buf.writeUInt16BE(w & 0xffff, i * 2));
  return buf;
}

/** 64-bit integers beyond 2^53 become decimal strings so they are never rounded. */
function bigToValue(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** Decodes the registers of one value. `words.length` must equal the type's width. */
export function decodeRegisters(words: readonly number[], type: NumericRegisterType, byteOrder: ByteOrder): number | string {
  const be = reorder(wordsToBytes(words), byteOrder);
  switch (type) {
    case "int16":
      return be.readInt16BE(0);
    case "uint16":
      return be.readUInt16BE(0);
    case "int32":
      return be.readInt32BE(0);
    case "uint32":
      return be.readUInt32BE(0);
    case "float32":
      return be.readFloatBE(0);
    case "int64":
      return bigToValue(be.readBigInt64BE(0));
    case "uint64":
      return bigToValue(be.readBigUInt64BE(0));
    case "float64":
      return be.readDoubleBE(0);
  }
}

const integerRanges: Record<Exclude<NumericRegisterType, "float32" | "float64">, [bigint, bigint]> = {
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/**
 * Encodes a raw (unscaled) value into registers. Throws a RangeError naming the limits when the value
 * does not fit the type, so a write never wraps around silently.
 */
export function encodeRegisters(raw: number | string, type: NumericRegisterType, byteOrder: ByteOrder): number[] {
  const be = Buffer.alloc(registerTypeWidths[type] * 2);
  if (type === "float32" || type === "float64") {
    // Number("") is 0 and Number("abc") is NaN: neither is what the writer meant.
    if (typeof raw === "string" && (raw.trim() === "" || Number.isNaN(Number(raw)))) {
      throw new RangeError(`${type} needs a number, got "${raw}"`);
    }
    const n = Number(raw);
    if (type === "float32") {
      if (Number.isFinite(n) && !Number.isFinite(Math.fround(n))) {
        throw new RangeError(`float32 holds -3.4028234663852886e+38..3.4028234663852886e+38, got ${n}`);
      }
      be.writeFloatBE(n, 0);
    } else be.writeDoubleBE(n, 0);
  } else {
    const asNumber = typeof raw === "number" ? raw : Number(raw);
    if (typeof raw === "number" && !Number.isInteger(raw)) throw new RangeError(`${type} needs an integer, got ${raw}`);
    if (typeof raw === "string" && !/^-?\d+$/.test(raw)) throw new RangeError(`${type} needs an integer, got "${raw}"`);
    const v = typeof raw === "string" ? BigInt(raw) : BigInt(asNumber);
    const [min, max] = integerRanges[type];
    if (v < min || v > max) throw new RangeError(`${type} holds ${min}..${max}, got ${v}`);
    if (type === "int16") be.writeInt16BE(Number(v), 0);
    else if (type === "uint16") be.writeUInt16BE(Number(v), 0);
    else if (type === "int32") be.writeInt32BE(Number(v), 0);
    else if (type === "uint32") be.writeUInt32BE(Number(v), 0);
    else if (type === "int64") be.writeBigInt64BE(v, 0);
    else be.writeBigUInt64BE(v, 0);
  }
  const ordered = reorder(be, byteOrder);
  const words: number[] = [];
  for (let i = 0; i < ordered.length; i += 2) words.push(ordered.readUInt16BE(i));
  return words;
}

/** BADC and DCBA swap the two characters of each register; word order does not apply to text. */
const swapsChars = (byteOrder: ByteOrder) => byteOrder === "BADC" || byteOrder === "DCBA";

/** A string of registers: 2 ASCII characters each, high byte first; trailing NULs and spaces dropped. */
export function decodeString(words: readonly number[], byteOrder: ByteOrder): string {
  const bytes: number[] = [];
  for (const w of words) {
    const hi = (w >> 8) & 0xff;
    const lo = w & 0xff;
    if (swapsChars(byteOrder)) bytes.push(lo, hi);
    else bytes.push(hi, lo);
  }
  return Buffer.from(bytes).toString("latin1").replace(/[\0 ]+$/, "");
}

/** Encodes text into `length` registers, NUL-padded. Throws a RangeError when it does not fit or is not ASCII. */
export function encodeString(text: string, length: number, byteOrder: ByteOrder): number[] {
  if (!/^[\x00-\x7f]*$/.test(text)) throw new RangeError(`string registers hold ASCII text, got ${JSON.stringify(text)}`);
  if (text.length > length * 2) throw new RangeError(`${length} registers hold ${length * 2} characters, got ${text.length}`);
  const bytes = Buffer.alloc(length * 2);
  bytes.write(text, "latin1");
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    const a = bytes[i] ?? 0;
    const b = bytes[i + 1] ?? 0;
    words.push(swapsChars(byteOrder) ? (b << 8) | a : (a << 8) | b);
  }
  return words;
}
