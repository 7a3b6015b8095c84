import type { ModbusPointConfig, NumericRegisterType } from "./config.js";
import { registerTypeWidths } from "./widths.js";

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

/** One scratch area for multi-register values: decoding allocates nothing per point. */
const scratch = new DataView(new ArrayBuffer(8));

/**
 * Copies `width` registers from `words[offset]` into the scratch area in big-endian order (ABCD),
 * undoing the byte order: CDAB/DCBA store the low word first, BADC/DCBA swap the bytes of each word.
 */
function loadScratch(words: ArrayLike<unknown>, offset: number, width: number, byteOrder: ByteOrder): void {
  const swapWords = byteOrder === "CDAB" || byteOrder === "DCBA";
  const swapBytes = byteOrder === "BADC" || byteOrder === "DCBA";
  for (let w = 0; w < width; w++) {
    const word = wordAt(words, offset + (swapWords ? width - 1 - w : w));
    scratch.setUint16(w * 2, swapBytes ? ((word & 0xff) << 8) | (word >> 8) : word);
  }
}

/** A register as 0..65535 (a missing one reads 0). */
function wordAt(words: ArrayLike<unknown>, i: number): number {
  return (words[i] as number) & 0xffff;
}

/** 64-bit integers beyond 2^53 become decimal strings so they are never rounded. */
function bigToValue(v: bigint): number | string {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

const TWO_32 = 0x1_0000_0000;

/**
 * Decodes one value whose registers start at `words[offset]`, without copying them out first: 16-bit
 * types straight from the word, wider ones through one reused scratch area. `words` may hold other
 * values around this one (a whole read block).
 */
export function decodeRegistersAt(words: ArrayLike<unknown>, offset: number, type: NumericRegisterType, byteOrder: ByteOrder): number | string {
  if (type === "uint16" || type === "int16") {
    let w = wordAt(words, offset);
    if (byteOrder === "BADC" || byteOrder === "DCBA") w = ((w & 0xff) << 8) | (w >> 8);
    return type === "uint16" ? w : (w << 16) >> 16;
  }
  loadScratch(words, offset, registerTypeWidths[type], byteOrder);
  switch (type) {
    case "int32":
      return scratch.getInt32(0);
    case "uint32":
      return scratch.getUint32(0);
    case "float32":
      return scratch.getFloat32(0);
    case "float64":
      return scratch.getFloat64(0);
    case "int64": {
      // Exact as a number while the high half is small (|value| < 2^53); BigInt beyond.
      const hi = scratch.getInt32(0);
      if (hi >= -0x20_0000 && hi < 0x20_0000) {
        const v = hi * TWO_32 + scratch.getUint32(4);
        if (Number.isSafeInteger(v)) return v;
      }
      return bigToValue(scratch.getBigInt64(0));
    }
    case "uint64": {
      const hi = scratch.getUint32(0);
      if (hi < 0x20_0000) return hi * TWO_32 + scratch.getUint32(4);
      return bigToValue(scratch.getBigUint64(0));
    }
  }
}

/** Decodes the registers of one value. `words.length` must equal the type's width. */
export function decodeRegisters(words: readonly number[], type: NumericRegisterType, byteOrder: ByteOrder): number | string {
  return decodeRegistersAt(words, 0, type, byteOrder);
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
  return decodeStringAt(words, 0, words.length, byteOrder);
}

/** decodeString over `length` registers starting at `words[offset]` (inside a whole read block). */
export function decodeStringAt(words: ArrayLike<unknown>, offset: number, length: number, byteOrder: ByteOrder): string {
  const swap = swapsChars(byteOrder);
  const codes = new Array<number>(length * 2);
  for (let i = 0; i < length; i++) {
    const w = wordAt(words, offset + i);
    codes[2 * i] = swap ? w & 0xff : w >> 8;
    codes[2 * i + 1] = swap ? w >> 8 : w & 0xff;
  }
  // Each byte is one latin1 character, as Buffer#toString("latin1") would give.
  let end = codes.length;
  while (end > 0 && (codes[end - 1] === 0 || codes[end - 1] === 0x20)) end--;
  codes.length = end;
  return String.fromCharCode(...codes);
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
